"""Fake cgroup v2 and v1 trees for tests (the layout a container sees at /sys/fs/cgroup)."""

from __future__ import annotations

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


def set_v2_cpu_usage(root: Path, usage_usec: int) -> None:
    """Rewrite ``cpu.stat`` with a new ``usage_usec`` (throttling figures fixed)."""
    (root / "cpu.stat").write_text(
        f"usage_usec {usage_usec}\nuser_usec {usage_usec // 2}\nsystem_usec {usage_usec // 2}\n"
        "nr_periods 1000\nnr_throttled 40\nthrottled_usec 1500000\n"
    )


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
