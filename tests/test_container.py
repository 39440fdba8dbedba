"""cgroup v2/v1 readers over fake trees, the psutil fallback, and the CPU window."""

import os
import subprocess
from pathlib import Path

import psutil
import pytest
import yaml

from alerts.common import alert_prefix
from alerts.generate import build_rule_groups
from app import container, metric_names
from monitoring.config import local_config
from tests.conftest import require_binary
from tests.support.cgroups import (
    MIB,
    mark_v1_hierarchy_root,
    write_membership,
    write_v1_tree,
    write_v2_host_root,
    write_v2_tree,
)


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
    assert container.cpu_capacity_cores(figures) == len(os.sched_getaffinity(0))


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


# --- the process's own cgroup (/proc/self/cgroup) ------------------------------------------------
def test_membership_lines_are_parsed_for_v1_and_v2():
    text = "12:cpu,cpuacct:/user.slice/a\n4:memory:/user.slice/b\n0::/user.slice/c.scope\nbad\n"
    assert container.own_cgroups(text) == {
        "cpu": "/user.slice/a",
        "cpuacct": "/user.slice/a",
        "memory": "/user.slice/b",
        "": "/user.slice/c.scope",
    }


def test_v2_reads_the_own_nested_cgroup_with_the_tightest_limit_above_it(tmp_path: Path):
    """Own cgroup /app.slice/demo.scope: its usage, the parent slice's tighter CPU limit."""
    root = write_v2_host_root(tmp_path / "cg")
    slice_ = write_v2_tree(root / "app.slice", memory_max=str(512 * MIB), cpu_max="50000 100000")
    own = write_v2_tree(
        slice_ / "demo.scope",
        current=40 * MIB,
        inactive_file=0,
        usage_usec=3_000_000,
        memory_max="max",
        cpu_max="max 100000",
    )
    figures = container.read_figures(
        root, membership=write_membership(tmp_path / "self", v2="/app.slice/demo.scope")
    )
    assert own.is_dir() and figures.source == "cgroup2"
    assert figures.cpu_usage_seconds == 3.0  # the scope's, not the slice's 12.5 or the host's
    assert figures.memory_working_set_bytes == 40 * MIB
    assert figures.cpu_limit_cores == pytest.approx(0.5)
    assert figures.memory_limit_bytes == 512 * MIB


def test_v2_without_any_limit_is_relative_to_the_allowed_cpus(tmp_path: Path):
    root = write_v2_host_root(tmp_path / "cg")
    write_v2_tree(root / "user.slice", memory_max="max", cpu_max="max 100000")
    figures = container.read_figures(
        root, membership=write_membership(tmp_path / "self", v2="/user.slice")
    )
    assert figures.cpu_limit_cores is None and figures.memory_limit_bytes is None
    assert container.cpu_capacity_cores(figures) == len(os.sched_getaffinity(0))


def test_the_hosts_root_cgroup_is_never_read_as_the_app(tmp_path: Path):
    """Own cgroup = the host's root (v2 "/" with no limit files; v1 with cgroup.sane_behavior):
    the process tree is measured instead of the whole machine."""
    v2 = write_v2_host_root(tmp_path / "v2")
    assert (
        container.read_figures(v2, membership=write_membership(tmp_path / "a")).source == "psutil"
    )
    v1 = write_v1_tree(tmp_path / "v1", quota=-1)
    mark_v1_hierarchy_root(v1 / "cpuacct")
    membership = write_membership(tmp_path / "b", v2=None, cpu="/", cpuacct="/", memory="/")
    assert container.read_figures(v1, membership=membership).source == "psutil"


def test_v1_reads_each_controller_at_its_own_nested_path(tmp_path: Path):
    """v1 controllers at different paths; the parent's quota applies; unknown paths use the
    mount (a container that sees only its own cgroup)."""
    root = write_v1_tree(tmp_path / "cg", quota=-1, usage_ns=900 * 10**9)
    for controller in ("cpu", "cpuacct"):
        mark_v1_hierarchy_root(root / controller)
    write_v1_tree(
        root / "_nested", usage=30 * MIB, inactive_file=0, quota=25000, usage_ns=2 * 10**9
    )
    for controller in ("memory", "cpu", "cpuacct"):
        (root / "_nested" / controller).rename(root / controller / "kubepods")
    (root / "cpu" / "kubepods" / "pod").mkdir()
    (root / "cpu" / "kubepods" / "pod" / "cpu.cfs_quota_us").write_text("-1\n")
    (root / "cpu" / "kubepods" / "pod" / "cpu.cfs_period_us").write_text("100000\n")
    membership = write_membership(
        tmp_path / "self", v2=None, cpu="/kubepods/pod", cpuacct="/kubepods", memory="/kubepods"
    )
    figures = container.read_figures(root, membership=membership)
    assert figures.source == "cgroup1"
    assert figures.cpu_usage_seconds == pytest.approx(2.0)
    assert figures.memory_working_set_bytes == 30 * MIB
    assert figures.cpu_limit_cores == pytest.approx(0.25)  # from the parent kubepods
    missing = write_membership(tmp_path / "gone", v2=None, cpuacct="/elsewhere", memory="/x")
    plain = write_v1_tree(tmp_path / "own", quota=20000)
    assert container.read_figures(plain, membership=missing).cpu_limit_cores == pytest.approx(0.2)


def _cpu_percent_series(root: Path, membership: Path, host_cores: float, app_cores: float):
    """Ten minutes of the app's CPU gauge, one reading a minute, computed by the app's code
    while the fake host burns ``host_cores`` and the app's cgroup ``app_cores``."""
    window = container.CpuWindow(None)
    values = []
    for minute in range(11):
        host_usec = int(minute * 60 * host_cores * 1e6)
        (root / "cpuacct" / "cpuacct.usage").write_text(f"{host_usec * 1000}\n")
        app = root / "cpuacct" / "app.slice"
        (app / "cpuacct.usage").write_text(f"{int(minute * 60 * app_cores * 1e9)}\n")
        figures = container.read_figures(root, membership=membership)
        percent = window.percent(figures.cpu_usage_seconds, 2.0, now=minute * 60.0)
        values.append(0.0 if percent is None else percent)
    return values


def test_an_idle_app_on_a_busy_host_raises_no_cpu_alert(tmp_path: Path):
    """promtool, CpuUsageHigh with `for: 2m`: the gauge from the app's own cgroup (1 % of a
    core) stays quiet while the host burns both CPUs; the host root's reading (what the app
    reported before) would have fired - so the case can fail."""
    promtool = require_binary("promtool", hint="apt-get install prometheus")
    config = local_config(cpu_warning_for="2m")
    (rule,) = [
        r
        for g in build_rule_groups(config)
        for r in g["rules"]
        if r.get("alert") == f"{alert_prefix(config)}CpuUsageHigh"
    ]
    rule = {k: v for k, v in rule.items() if k != "annotations"}  # this case pins expr and for
    rules = tmp_path / "cpu.rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "cpu", "rules": [rule]}]}))

    root = write_v1_tree(tmp_path / "cg", quota=-1)
    mark_v1_hierarchy_root(root / "cpuacct")
    (root / "cpuacct" / "app.slice").mkdir()
    own = write_membership(tmp_path / "self", v2=None, cpuacct="/app.slice", memory="/")
    host_root = write_membership(tmp_path / "root", v2=None, cpuacct="/", memory="/")
    idle = _cpu_percent_series(root, own, host_cores=2.0, app_cores=0.01)
    assert max(idle) < 1.0, idle
    (root / "cpuacct" / "cgroup.sane_behavior").unlink()  # as if the root were the app's
    busy = _cpu_percent_series(root, host_root, host_cores=2.0, app_cores=0.01)
    assert min(busy[1:]) > config.cpu_warning_percent, busy

    labels = {"job": config.job, "namespace": config.namespace, "pod": "demo-app-local"}
    selector = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    name = metric_names.CPU_USAGE_PERCENT

    def case(values: list[float], expected: list[dict]) -> dict:
        return {
            "interval": "1m",
            "input_series": [
                {"series": f"{name}{{{selector}}}", "values": " ".join(f"{v:g}" for v in values)}
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": rule["alert"], "exp_alerts": expected}
            ],
        }

    firing = [{"exp_labels": {**labels, **rule.get("labels", {})}}]
    tests = tmp_path / "cpu.test.yaml"
    tests.write_text(
        yaml.safe_dump({"rule_files": [str(rules)], "tests": [case(idle, []), case(busy, firing)]})
    )
    result = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
