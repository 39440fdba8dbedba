"""Fake cgroup v2 and v1 trees for tests (the layout a container sees at /sys/fs/cgroup)."""

from __future__ import annotations

import threading
from pathlib import Path

MIB = 1024 * 1024


def write_v2_tree(
    root: Path,
    current: int = 64 * MIB,
    inactive_file: int = 16 * MIB,
    memory_max: str = str(128 * MIB),
    usage_usec: int = 12_500_000,
    cpu_max: str = "20000 100000",
) -> Path:
    """A cgroup v2 tree; ``memory_max``/``cpu_max`` take "max" for unlimited."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "memory.current").write_text(f"{current}\n")
    (root / "memory.stat").write_text(
        f"anon {current - inactive_file}\nfile {inactive_file}\ninactive_file {inactive_file}\n"
        "active_file 0\n"
    )
    (root / "memory.max").write_text(f"{memory_max}\n")
    (root / "cpu.max").write_text(f"{cpu_max}\n")
    set_v2_cpu_usage(root, usage_usec)
    return root


def set_v2_cpu_usage(
    root: Path,
    usage_usec: int,
    nr_periods: int = 1000,
    nr_throttled: int = 40,
    throttled_usec: int = 1_500_000,
) -> None:
    """Rewrite ``cpu.stat`` (atomically, as the kernel's file never reads half-written)."""
    tmp = root / ".cpu.stat.tmp"
    tmp.write_text(
        f"usage_usec {usage_usec}\nuser_usec {usage_usec // 2}\nsystem_usec {usage_usec // 2}\n"
        f"nr_periods {nr_periods}\nnr_throttled {nr_throttled}\nthrottled_usec {throttled_usec}\n"
    )
    tmp.replace(root / "cpu.stat")


class SimulatedContainer:
    """A cgroup v2 tree whose CPU counters advance, like a busy container with limits.

    Every ``tick`` seconds: +``cores`` x tick CPU-seconds used, 10 CFS periods per second
    (100 ms period) of which ``throttled_share`` are throttled. Limits: 0.2 cores, 128 MiB.
    Used by the e2e stack so that limit, CPU and throttling panels have real series to show
    (the machines running the tests have no CPU quota of their own).
    """

    def __init__(
        self, root: Path, cores: float = 0.05, throttled_share: float = 0.1, tick: float = 0.5
    ) -> None:
        self.root = write_v2_tree(root)
        self.cores, self.throttled_share, self.tick = cores, throttled_share, tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        usage, periods, throttled = 12_500_000.0, 1000.0, 40.0
        while not self._stop.wait(self.tick):
            usage += self.cores * self.tick * 1e6
            periods += 10 * self.tick
            throttled += 10 * self.tick * self.throttled_share
            set_v2_cpu_usage(
                self.root, int(usage), int(periods), int(throttled), int(throttled * 100_000)
            )

    def __enter__(self) -> SimulatedContainer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def write_v1_tree(
    root: Path,
    usage: int = 80 * MIB,
    inactive_file: int = 10 * MIB,
    limit: int = 256 * MIB,
    quota: int = 50000,
    usage_ns: int = 7_250_000_000,
    combined_cpu: bool = False,
) -> Path:
    """A cgroup v1 tree; ``limit`` 9223372036854771712 and ``quota`` -1 mean unlimited."""
    memory = root / "memory"
    memory.mkdir(parents=True, exist_ok=True)
    (memory / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (memory / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (memory / "memory.stat").write_text(
        f"cache {inactive_file}\nrss {usage - inactive_file}\n"
        f"inactive_file {inactive_file}\ntotal_inactive_file {inactive_file}\n"
    )
    if combined_cpu:
        cpu = cpuacct = root / "cpu,cpuacct"
    else:
        cpu, cpuacct = root / "cpu", root / "cpuacct"
    for folder in (cpu, cpuacct):
        folder.mkdir(parents=True, exist_ok=True)
    (cpuacct / "cpuacct.usage").write_text(f"{usage_ns}\n")
    (cpu / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (cpu / "cpu.cfs_period_us").write_text("100000\n")
    (cpu / "cpu.stat").write_text("nr_periods 500\nnr_throttled 12\nthrottled_time 250000000\n")
    return root


def write_membership(path: Path, v2: str | None = "/", **v1: str) -> Path:
    """A fake ``/proc/self/cgroup``: a v2 ``0::<v2>`` line and one v1 line per controller
    (``cpu_cpuacct="/x"`` writes ``cpu,cpuacct:/x``)."""
    lines = [f"{i + 1}:{name.replace('_', ',')}:{p}" for i, (name, p) in enumerate(v1.items())]
    if v2 is not None:
        lines.append(f"0::{v2}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_v2_host_root(root: Path, usage_usec: int = 10**12) -> Path:
    """The host's v2 root cgroup: controllers and ``cpu.stat`` but no ``memory.max``/``cpu.max``
    (the kernel does not create them at the root)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cpu.stat").write_text(f"usage_usec {usage_usec}\n")
    (root / "memory.stat").write_text("inactive_file 0\n")
    return root


def mark_v1_hierarchy_root(controller_dir: Path) -> None:
    """Give a v1 controller directory the file only a hierarchy's root has."""
    (controller_dir / "cgroup.sane_behavior").write_text("0\n")
