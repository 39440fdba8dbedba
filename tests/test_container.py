"""cgroup v2/v1 readers over fake trees, the psutil fallback, and the CPU window."""

from pathlib import Path

import psutil
import pytest

from app import container
from tests.support.cgroups import MIB, write_v1_tree, write_v2_tree


def test_cgroup_v2_with_limits(tmp_path: Path):
    """v2: working set = current - inactive_file; limits from memory.max and cpu.max."""
    write_v2_tree(tmp_path, current=100 * MIB, inactive_file=30 * MIB, memory_max=str(128 * MIB))
    figures = container.read_figures(tmp_path)
    assert figures.source == "cgroup2"
    assert figures.memory_working_set_bytes == 70 * MIB
    assert figures.memory_limit_bytes == 128 * MIB
    assert figures.cpu_usage_seconds == 12.5
    assert figures.cpu_limit_cores == pytest.approx(0.2)
    assert figures.cpu_periods == 1000
    assert figures.cpu_throttled_periods == 40
    assert figures.cpu_throttled_seconds == pytest.approx(1.5)
    assert container.memory_percent(figures) == pytest.approx(100 * 70 / 128)


def test_cgroup_v2_unlimited(tmp_path: Path):
    """v2 "max" limits are absent, and percentages fall back to the host."""
    write_v2_tree(tmp_path, memory_max="max", cpu_max="max 100000")
    figures = container.read_figures(tmp_path)
    assert figures.memory_limit_bytes is None
    assert figures.cpu_limit_cores is None
    host_total = psutil.virtual_memory().total
    assert container.memory_percent(figures) == pytest.approx(
        100 * figures.memory_working_set_bytes / host_total
    )
    assert container.cpu_capacity_cores(figures) == psutil.cpu_count()


def test_cgroup_v1_with_limits(tmp_path: Path):
    """v1: total_inactive_file is subtracted; quota/period gives cores; ns become seconds."""
    write_v1_tree(tmp_path, usage=90 * MIB, inactive_file=20 * MIB, limit=256 * MIB, quota=50000)
    figures = container.read_figures(tmp_path)
    assert figures.source == "cgroup1"
    assert figures.memory_working_set_bytes == 70 * MIB
    assert figures.memory_limit_bytes == 256 * MIB
    assert figures.cpu_usage_seconds == pytest.approx(7.25)
    assert figures.cpu_limit_cores == pytest.approx(0.5)
    assert figures.cpu_throttled_periods == 12
    assert figures.cpu_throttled_seconds == pytest.approx(0.25)


def test_cgroup_v1_unlimited(tmp_path: Path):
    """v1's page-aligned LONG_MAX and quota -1 mean "no limit": absent, never 9.2e18."""
    write_v1_tree(tmp_path, limit=9223372036854771712, quota=-1)
    figures = container.read_figures(tmp_path)
    assert figures.memory_limit_bytes is None
    assert figures.cpu_limit_cores is None


def test_cgroup_v1_combined_cpu_controller(tmp_path: Path):
    """The common ``cpu,cpuacct`` mount serves both CPU readers."""
    write_v1_tree(tmp_path, quota=20000, combined_cpu=True)
    figures = container.read_figures(tmp_path)
    assert figures.cpu_limit_cores == pytest.approx(0.2)
    assert figures.cpu_usage_seconds == pytest.approx(7.25)


def test_working_set_never_negative(tmp_path: Path):
    """More inactive cache than usage (a racy read) clamps to 0, not a negative figure."""
    write_v2_tree(tmp_path, current=10 * MIB, inactive_file=20 * MIB)
    assert container.read_figures(tmp_path).memory_working_set_bytes == 0


def test_no_cgroup_falls_back_to_psutil(tmp_path: Path):
    """Without cgroup files the process tree is measured and no limit is invented."""
    figures = container.read_figures(tmp_path / "absent")
    assert figures.source == "psutil"
    assert figures.memory_working_set_bytes > 0
    assert figures.memory_limit_bytes is None
    assert figures.cpu_limit_cores is None


def test_malformed_cgroup_file_falls_back(tmp_path: Path):
    """A malformed v2 file is not a crash: the next reader is tried, finally psutil."""
    write_v2_tree(tmp_path)
    (tmp_path / "memory.current").write_text("garbage\n")
    assert container.read_figures(tmp_path).source == "psutil"


def test_cpu_window_first_reading_is_real(tmp_path: Path):
    """A baseline taken at start makes the very first percentage a real figure."""
    window = container.CpuWindow(tmp_path / "samples.json")
    window.record(10.0, now=100.0)  # taken at server start
    # 0.1 CPU-seconds in 0.5 s on a 0.5-core limit = 40 %
    assert window.percent(10.1, capacity_cores=0.5, now=100.5) == pytest.approx(40.0)


def test_cpu_window_is_recent_not_since_start(tmp_path: Path):
    """After a long busy period, an idle minute reads ~0 %, not the average since start."""
    window = container.CpuWindow(tmp_path / "samples.json", window_seconds=60)
    usage = 0.0
    for second in range(0, 3600, 5):  # an hour at 100 % of one core
        usage = float(second)
        window.record(usage, now=float(second))
    for second in range(3600, 3665, 5):  # then idle
        window.record(usage, now=float(second))
    assert window.percent(usage, capacity_cores=1.0, now=3665.0) == pytest.approx(0.0)


def test_cpu_window_same_value_for_every_worker(tmp_path: Path):
    """Two workers reading the shared samples at the same instant compute the same value."""
    path = tmp_path / "samples.json"
    container.CpuWindow(path).record(5.0, now=0.0)
    first = container.CpuWindow(path).percent(8.0, capacity_cores=2.0, now=30.0)
    second = container.CpuWindow(path).percent(8.0, capacity_cores=2.0, now=30.0)
    assert first == second == pytest.approx(100 * 3.0 / 30.0 / 2.0)


def test_cpu_window_without_history_reports_nothing(tmp_path: Path):
    """With no earlier sample there is nothing to compare: None, never a fake 0.0."""
    window = container.CpuWindow(tmp_path / "samples.json")
    assert window.percent(3.0, capacity_cores=1.0, now=10.0) is None


def test_cpu_window_in_memory_without_a_path():
    """Without a samples file (one process), the window keeps its samples in memory."""
    window = container.CpuWindow(None)
    window.record(1.0, now=0.0)
    assert window.percent(2.0, capacity_cores=1.0, now=10.0) == pytest.approx(10.0)
