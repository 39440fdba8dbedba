"""Container resource figures from cgroup v2 or v1, in base units, with a psutil fallback.

The readers are pure functions over a root directory (``/sys/fs/cgroup`` in a pod; tests point
them at fake trees). Figures follow what the kubelet, ``kubectl top`` and the HPA use:

* memory usage is the *working set*: usage minus inactive file cache (bytes);
* the memory limit is absent (``None``) when unlimited - never 9.2e18, never the host's total;
* CPU usage is a monotonic counter in seconds; the CPU limit is quota / period in cores,
  ``None`` when unlimited; throttling figures are present only where the cgroup reports them.

Whose figures: the process's *own* cgroup, from ``/proc/self/cgroup`` (a v2 ``0::<path>`` line,
v1 ``<id>:<controllers>:<path>`` lines), below ``root``. In a pod that is ``/`` (the container's
cgroup namespace), so ``root`` itself; on a laptop or CI machine it is a session or service
cgroup, never the whole host. A path that does not exist below ``root`` (a container that sees
only its own cgroup mounted, cgroup v1 without a namespace) means ``root`` is already it. Limits
are the tightest along the path up to ``root`` (a limit set on a parent slice applies).
When the own cgroup is the host's root cgroup (v2: no ``memory.max``/``cpu.max`` there; v1: the
hierarchy root's ``cgroup.sane_behavior``), its counters are the whole machine's: the figures
then come from the process tree (psutil) instead, so an idle app on a busy host reads idle.

Without a CPU limit, CPU percentages are relative to the CPUs this process may run on
(``os.sched_getaffinity``: a cpuset or ``taskset`` counts), not to the host's CPU count.

``CpuWindow`` turns the CPU counter into a percentage over a recent window (<= ~60 s) that every
worker computes identically, without blocking a scrape on a sampling interval.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

# cgroup v1 reports "no limit" as a page-aligned LONG_MAX (9223372036854771712); anything this
# large is not a real limit.
_V1_UNLIMITED = 1 << 60
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
"""The kernel's list of this process's cgroups (``man 7 cgroups``, "/proc/[pid]/cgroup")."""


@dataclass(frozen=True)
class ContainerFigures:
    """One reading of the container's resources.

    Attributes:
        source: ``"cgroup2"``, ``"cgroup1"`` or ``"psutil"`` (no cgroup files readable).
        memory_working_set_bytes: usage minus inactive file cache, bytes.
        memory_limit_bytes: the memory limit in bytes, ``None`` when unlimited.
        cpu_usage_seconds: CPU time consumed since the cgroup (or process tree) started, s.
        cpu_limit_cores: CPU quota / period in cores, ``None`` when unlimited.
        cpu_periods: CFS periods elapsed, ``None`` where not reported.
        cpu_throttled_periods: CFS periods in which the cgroup was throttled, or ``None``.
        cpu_throttled_seconds: total throttled time in seconds, or ``None``.
    """

    source: str
    memory_working_set_bytes: float
    memory_limit_bytes: float | None
    cpu_usage_seconds: float
    cpu_limit_cores: float | None
    cpu_periods: float | None = None
    cpu_throttled_periods: float | None = None
    cpu_throttled_seconds: float | None = None


def own_cgroups(text: str) -> dict[str, str]:
    """Parse ``/proc/self/cgroup``: ``{"": v2 path}`` and ``{controller: v1 path}``.

    ``"0::/user.slice/a.scope"`` -> ``{"": "/user.slice/a.scope"}``;
    ``"4:cpu,cpuacct:/x"`` -> ``{"cpu": "/x", "cpuacct": "/x"}``. Malformed lines are skipped.
    """
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3 or not parts[2].startswith("/"):
            continue
        _id, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            paths.setdefault(controller, path)
    return paths


def read_own_cgroups(membership: Path = PROC_SELF_CGROUP) -> dict[str, str]:
    """``own_cgroups`` of the file ``membership`` (``{}`` when unreadable: use the root)."""
    try:
        return own_cgroups(membership.read_text())
    except (OSError, UnicodeDecodeError):
        return {}


def _below(mount: Path, path: str | None) -> Path:
    """The directory of cgroup ``path`` under ``mount``, or ``mount`` where it does not exist."""
    if path and path != "/":
        candidate = mount / path.lstrip("/")
        if candidate.is_dir():
            return candidate
    return mount


def _up_to(mount: Path, directory: Path) -> list[Path]:
    """``directory`` and its parents up to ``mount`` (inclusive), innermost first."""
    chain = [directory]
    while chain[-1] != mount and mount in chain[-1].parents:
        chain.append(chain[-1].parent)
    return chain


def read_figures(
    root: Path, pid: int | None = None, membership: Path = PROC_SELF_CGROUP
) -> ContainerFigures:
    """Read the figures of this process's own cgroup in the tree at ``root``.

    Tries cgroup v2 (``root/cgroup.controllers`` exists), then v1 (``root/memory`` and
    ``root/cpuacct`` or ``root/cpu,cpuacct``), each at the path ``membership`` names (see the
    module docstring). Where neither is readable, or the own cgroup is the host's root, falls
    back to psutil over the process tree rooted at ``pid`` (default: this process), no limits.
    """
    paths = read_own_cgroups(membership)
    for reader in (read_cgroup_v2, read_cgroup_v1):
        try:
            figures = reader(root, paths)
        except (OSError, ValueError):
            continue
        if figures is not None:
            return figures
    return read_process_tree(pid or os.getpid())


def read_cgroup_v2(root: Path, paths: dict[str, str] | None = None) -> ContainerFigures | None:
    """Figures from a cgroup v2 (unified) tree, or ``None`` when ``root`` is not one or the own
    cgroup (``paths[""]``, default ``/``) is the host's root cgroup.

    Files: ``memory.current``, ``memory.stat`` (``inactive_file``), ``memory.max``,
    ``cpu.stat`` (``usage_usec``, ``nr_periods``, ``nr_throttled``, ``throttled_usec``),
    ``cpu.max`` (``"$QUOTA $PERIOD"`` or ``"max $PERIOD"``); ``memory.max`` and ``cpu.max``
    are read up the path to ``root`` and the tightest applies.

    Raises:
        OSError, ValueError: a file is missing or malformed.
    """
    if not (root / "cgroup.controllers").exists():
        return None
    own = _below(root, (paths or {}).get(""))
    if not (own / "memory.max").exists() and not (own / "cpu.max").exists():
        return None  # the host's root cgroup (neither file exists there): the whole machine
    usage = _read_int(own / "memory.current")
    inactive = _read_stat(own / "memory.stat").get("inactive_file", 0)
    cpu = _read_stat(own / "cpu.stat")
    memory_limits, cpu_limits = [], []
    for directory in _up_to(root, own):
        if (directory / "memory.max").exists():
            raw = _read_text(directory / "memory.max")
            if raw != "max":
                memory_limits.append(float(int(raw)))
        if (directory / "cpu.max").exists():
            quota, _, period = _read_text(directory / "cpu.max").partition(" ")
            if quota != "max":
                cpu_limits.append(int(quota) / int(period or 100000))
    has_throttling = "nr_periods" in cpu
    return ContainerFigures(
        source="cgroup2",
        memory_working_set_bytes=float(max(usage - inactive, 0)),
        memory_limit_bytes=min(memory_limits, default=None),
        cpu_usage_seconds=cpu["usage_usec"] / 1e6,
        cpu_limit_cores=min(cpu_limits, default=None),
        cpu_periods=float(cpu["nr_periods"]) if has_throttling else None,
        cpu_throttled_periods=float(cpu.get("nr_throttled", 0)) if has_throttling else None,
        cpu_throttled_seconds=cpu.get("throttled_usec", 0) / 1e6 if has_throttling else None,
    )


def read_cgroup_v1(root: Path, paths: dict[str, str] | None = None) -> ContainerFigures | None:
    """Figures from a cgroup v1 tree, or ``None`` when ``root`` has no v1 controllers or the
    own ``cpuacct`` cgroup is its hierarchy's root (the host's counters).

    Files: ``memory/memory.usage_in_bytes``, ``memory/memory.stat`` (``total_inactive_file``),
    ``memory/memory.limit_in_bytes``; ``cpuacct/cpuacct.usage`` (ns); ``cpu/cpu.cfs_quota_us``
    (-1 = unlimited), ``cpu/cpu.cfs_period_us``, ``cpu/cpu.stat`` (``nr_periods``,
    ``nr_throttled``, ``throttled_time`` in ns). ``cpu,cpuacct`` is accepted for either. Each
    controller at its own path (``paths``); limits are the tightest up to the mount.

    Raises:
        OSError, ValueError: a file is missing or malformed.
    """
    paths = paths or {}
    memory_mount = root / "memory"
    cpuacct_mount = _first_dir(root / "cpuacct", root / "cpu,cpuacct", root / "cpuacct,cpu")
    cpu_mount = _first_dir(root / "cpu", root / "cpu,cpuacct", root / "cpuacct,cpu")
    memory = _below(memory_mount, paths.get("memory"))
    if not (memory / "memory.usage_in_bytes").exists() or cpuacct_mount is None:
        return None
    cpuacct = _below(cpuacct_mount, paths.get("cpuacct"))
    if (cpuacct / "cgroup.sane_behavior").exists():
        return None  # only a hierarchy's root has this file: the whole machine's counters
    usage = _read_int(memory / "memory.usage_in_bytes")
    stat = _read_stat(memory / "memory.stat")
    inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
    limits = [
        float(_read_int(d / "memory.limit_in_bytes"))
        for d in _up_to(memory_mount, memory)
        if (d / "memory.limit_in_bytes").exists()
    ]
    limit = min(limits, default=float(_V1_UNLIMITED))
    cores = None
    periods = throttled_periods = throttled_seconds = None
    cpu = _below(cpu_mount, paths.get("cpu")) if cpu_mount is not None else None
    if cpu is not None and cpu_mount is not None and (cpu / "cpu.cfs_quota_us").exists():
        quotas = [
            _read_int(d / "cpu.cfs_quota_us") / _read_int(d / "cpu.cfs_period_us")
            for d in _up_to(cpu_mount, cpu)
            if (d / "cpu.cfs_quota_us").exists() and _read_int(d / "cpu.cfs_quota_us") > 0
        ]
        cores = min(quotas, default=None)
        if (cpu / "cpu.stat").exists():
            cpu_stat = _read_stat(cpu / "cpu.stat")
            periods = float(cpu_stat.get("nr_periods", 0))
            throttled_periods = float(cpu_stat.get("nr_throttled", 0))
            throttled_seconds = cpu_stat.get("throttled_time", 0) / 1e9
    return ContainerFigures(
        source="cgroup1",
        memory_working_set_bytes=float(max(usage - inactive, 0)),
        memory_limit_bytes=None if limit >= _V1_UNLIMITED else limit,
        cpu_usage_seconds=_read_int(cpuacct / "cpuacct.usage") / 1e9,
        cpu_limit_cores=cores,
        cpu_periods=periods,
        cpu_throttled_periods=throttled_periods,
        cpu_throttled_seconds=throttled_seconds,
    )


def read_process_tree(pid: int) -> ContainerFigures:
    """Figures for the process ``pid`` and its children via psutil (no cgroup available).

    Memory is the tree's resident set size (bytes); CPU is user + system time of the living
    processes (seconds). No limits: percentages are then relative to the host.
    """
    rss = 0.0
    cpu = 0.0
    try:
        parent = psutil.Process(pid)
        processes = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        processes = []
    for process in processes:
        try:
            with process.oneshot():
                rss += process.memory_info().rss
                times = process.cpu_times()
                cpu += times.user + times.system
        except psutil.Error:
            continue  # exited between listing and reading
    return ContainerFigures(
        source="psutil",
        memory_working_set_bytes=rss,
        memory_limit_bytes=None,
        cpu_usage_seconds=cpu,
        cpu_limit_cores=None,
    )


def memory_percent(figures: ContainerFigures) -> float:
    """Working set as percent (0-100) of the memory limit, or of host memory when unlimited."""
    limit = figures.memory_limit_bytes or float(psutil.virtual_memory().total)
    return 100.0 * figures.memory_working_set_bytes / limit


def allowed_cpus() -> int:
    """How many CPUs this process may run on: its affinity mask (a cpuset, ``taskset``), else
    the host's count where the platform has no ``sched_getaffinity`` (macOS)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return psutil.cpu_count() or 1


def cpu_capacity_cores(figures: ContainerFigures) -> float:
    """Cores the CPU percentage is relative to: the CPU limit, else ``allowed_cpus()``."""
    return figures.cpu_limit_cores or float(allowed_cpus())


class CpuWindow:
    """CPU usage as a percentage of capacity over a recent window, shared by all workers.

    Samples ``(monotonic seconds, cpu usage seconds)`` are kept in a small JSON file that any
    process may update (atomic replace; a lost concurrent update only drops one sample). The
    gunicorn master records a sample every few seconds and at start, so every scrape finds a
    baseline at most ``window_seconds`` old and the first scrape after start already reports
    the usage since start - no 0.0 first-call artefact and no blocking sampling interval.
    Every worker computes from the same baseline, so they report the same value.

    Args:
        path: the samples file (in the multiprocess directory under gunicorn); ``None`` keeps
            the samples in this object's memory (one process, e.g. the test client).
        window_seconds: the longest baseline age kept, seconds (default 60).
        min_interval_seconds: a new sample is stored only when the newest is older (default 5).
    """

    def __init__(
        self, path: Path | None, window_seconds: float = 60.0, min_interval_seconds: float = 5.0
    ) -> None:
        self.path = path
        self.window_seconds = window_seconds
        self.min_interval_seconds = min_interval_seconds
        self._memory: list[tuple[float, float]] = []

    def _load(self) -> list[tuple[float, float]]:
        if self.path is None:
            return list(self._memory)
        try:
            data = json.loads(self.path.read_text())
            return [(float(t), float(u)) for t, u in data]
        except (OSError, ValueError, TypeError):
            return []

    def record(self, usage_seconds: float, now: float | None = None) -> tuple[float, float]:
        """Store a sample if due and return the baseline ``(time, usage)`` to compare against.

        The baseline is the oldest sample no older than the window; if none is that recent
        (nobody sampled for a while), the newest older one is used.
        """
        now = time.monotonic() if now is None else now
        samples = self._load()
        baseline = _pick_baseline(samples, now - self.window_seconds)
        if not samples or now - samples[-1][0] >= self.min_interval_seconds:
            kept = [s for s in samples if s[0] >= now - self.window_seconds]
            if baseline is not None and baseline not in kept:
                kept.insert(0, baseline)
            kept.append((now, usage_seconds))
            self._store(kept)
        return baseline if baseline is not None else (now, usage_seconds)

    def percent(self, usage_seconds: float, capacity_cores: float, now: float | None = None):
        """CPU use over the window as percent (0-100 x cores used / capacity).

        Returns ``None`` only when no earlier sample exists at all (nothing to compare with).
        """
        now = time.monotonic() if now is None else now
        base_time, base_usage = self.record(usage_seconds, now)
        elapsed = now - base_time
        if elapsed <= 0:
            return None
        return max(0.0, 100.0 * (usage_seconds - base_usage) / elapsed / capacity_cores)

    def _store(self, samples: list[tuple[float, float]]) -> None:
        if self.path is None:
            self._memory = samples
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(samples))
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)


def _pick_baseline(
    samples: list[tuple[float, float]], oldest_allowed: float
) -> tuple[float, float] | None:
    recent = [s for s in samples if s[0] >= oldest_allowed]
    if recent:
        return recent[0]
    return samples[-1] if samples else None


def _first_dir(*candidates: Path) -> Path | None:
    return next((c for c in candidates if c.is_dir()), None)


def _read_text(path: Path) -> str:
    return path.read_text().strip()


def _read_int(path: Path) -> int:
    return int(_read_text(path))


def _read_stat(path: Path) -> dict[str, int]:
    stat = {}
    for line in _read_text(path).splitlines():
        key, _, value = line.partition(" ")
        if value:
            stat[key] = int(value)
    return stat
