"""The local stack end to end: the real app, Prometheus and Alertmanager (``make run``).

One stack serves the module (started through ``local.stack.LocalStack``, the code
``make run`` runs, on free ports): rules and dashboards generated from
``local_config(metrics_absent_for="15s")`` (the dashboard queries checked are that config's),
Alertmanager's ``group_wait`` 1 s through the routing generator's ``Timing``, fault injection
(``FAULT_ERROR_RATIO``) on for the whole stack so error panels have errors, and the traffic
generator running. A simulated kube-state-metrics (``local.kube_state``) serves the Deployment's
desired replicas and the container's restarts, so the ready-vs-desired, scrape-health and
restart panels are proven too (the restart test restarts the app twice and expects exactly 2).
The app reads a simulated container (``SimulatedContainer``: a cgroup v2 tree
with limits whose CPU and CFS counters advance), so the limit, CPU and throttling panels have
series; the machines running the tests have no CPU quota of their own. The alert test stops the
app, so it runs last in this file.

Bounds (each wait fails with what it last saw):
- the app's target ``up == 1`` within 30 s of the stack's start (the issue's bound);
- ``demo_app_ready == 1`` within 30 s (readiness delay 5 s + scrape interval 5 s + slack);
- every used series, and every app-only dashboard query's data, within 60 s of the start
  (two scrapes for a ``rate()``, one rule evaluation after that);
- the metrics-gone alert firing in Prometheus within 45 s of stopping the app (a failed scrape
  within 5 s + ``for:`` 15 s + two evaluations of 5 s + slack) and its notification at the
  webhook through Alertmanager within 60 s (+ ``group_wait`` 1 s + Prometheus' send).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from alerts import alertmanager
from alerts.common import alert_prefix
from alerts.generate import build_rule_groups
from app import metric_names
from dashboards.generate import all_queries, build_all, expand_variables, variable_queries
from local.kube_state import SIMULATED
from local.processes import Binaries, check_file
from local.stack import PORT_ENV, LocalStack, Ports, StackError
from monitoring import kubernetes_series
from monitoring.config import local_config
from tests.conftest import ROOT, require_binary
from tests.support.cgroups import SimulatedContainer
from tests.support.grafana import threshold_color
from tests.support.prometheus import Prometheus, sample_value
from tests.support.promql import app_series_names, metric_names_in

pytestmark = pytest.mark.e2e

CONFIG = local_config(metrics_absent_for="15s")
TIMING = alertmanager.Timing(group_wait="1s", group_interval="5s")
READINESS_DELAY_SECONDS = 5.0
FAULT_ERROR_RATIO = 0.2
TRAFFIC_RATE = 20.0
SELECTOR = "{" + CONFIG.selector + "}"
METRICS_ABSENT_ALERT = f"{alert_prefix(CONFIG)}MetricsAbsent"

UP_BOUND_SECONDS = 30.0
READY_BOUND_SECONDS = 30.0
DATA_BOUND_SECONDS = 60.0
FIRING_BOUND_SECONDS = 45.0
NOTIFIED_BOUND_SECONDS = 60.0

# Grafana variables as a dashboard would send them locally: one namespace, the local pod, a rate
# interval of 4 scrape intervals or more, and a time range.
GRAFANA_TIME_VARIABLES = {"__range": "5m", "__interval": "15s", "__range_s": "300"}

RECORDING_RULES = {
    r["record"] for g in build_rule_groups(CONFIG) for r in g["rules"] if "record" in r
}
APP_SERIES = app_series_names()


def expand(expr: str, pod: str) -> str:
    """A dashboard expression with every Grafana variable substituted (fails on any left)."""
    text = expand_variables(
        expr,
        config=CONFIG,
        pod=pod,
        rate_interval="1m",
        interval=GRAFANA_TIME_VARIABLES["__interval"],
    )
    # Longest first, so $__range does not eat the start of $__range_s.
    for name in sorted(GRAFANA_TIME_VARIABLES, key=len, reverse=True):
        value = GRAFANA_TIME_VARIABLES[name]
        text = text.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in text, f"a Grafana variable is left unsubstituted: {text}"
    return text


def prometheus_binaries() -> None:
    """Skip (fail under CI) unless every binary the stack needs is on PATH."""
    hint = (
        "apt-get install prometheus prometheus-alertmanager; brew install prometheus alertmanager"
    )
    require_binary("prometheus", hint=hint)
    require_binary("promtool", hint=hint)
    require_binary("prometheus-alertmanager", shutil.which("alertmanager") or "", hint=hint)
    require_binary("amtool", hint=hint)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The running local stack; its ``started`` attribute is the monotonic start time."""
    prometheus_binaries()
    state = tmp_path_factory.mktemp("local-stack")
    out = (state / "stdout.jsonl").open("w")
    container = SimulatedContainer(state / "cgroup")
    local = LocalStack(
        config=CONFIG,
        ports=Ports.free(),
        timing=TIMING,
        app_env={
            "FAULT_ERROR_RATIO": str(FAULT_ERROR_RATIO),
            "READINESS_MIN_UPTIME_SECONDS": str(READINESS_DELAY_SECONDS),
            "DEMO_APP_CGROUP_ROOT": str(container.root),
        },
        traffic_rate=TRAFFIC_RATE,
        grafana=False,
        out=out,
        state_parent=state,
    )
    local.started = time.monotonic()
    local.out_path = state / "stdout.jsonl"
    with container, local:
        yield local
    out.close()
    assert not local.state_dir.exists(), "the state directory outlived the stack"


@pytest.fixture(scope="module")
def prom(stack) -> Prometheus:
    return Prometheus(stack.url("prometheus"))


def test_prometheus_scrapes_the_app_with_servicemonitor_labels_and_sees_it_ready(stack, prom):
    """up == 1 within 30 s, with job/namespace/pod/service; ready turns 1 after the delay."""
    labels = f'{CONFIG.selector}, pod="{stack.pod_name}", service="{CONFIG.job}"'
    prom.wait_for(
        f"up{{{labels}}} == 1",
        stack.started + UP_BOUND_SECONDS,
    )
    prom.wait_for(
        f"{metric_names.READY}{{{labels}}} == 1",
        stack.started + READY_BOUND_SECONDS,
    )
    # Ready exactly when the uptime passed the delay: pair the raw samples of one scrape.
    window = f"[{int(time.monotonic() - stack.started) + 10}s]"
    ready = prom.query(f"{metric_names.READY}{SELECTOR}{window}")[0]["values"]
    uptime = dict(prom.query(f"{metric_names.UPTIME}{SELECTOR}{window}")[0]["values"])
    pairs = [(float(uptime[t]), float(v)) for t, v in ready if t in uptime]
    assert pairs, "no scrape holds both the ready and the uptime gauge"
    for seconds, value in pairs:
        if value == 1.0:
            assert seconds >= READINESS_DELAY_SECONDS, pairs
        if seconds >= READINESS_DELAY_SECONDS + 1:  # 1 s: the two gauges are read in turn
            assert value == 1.0, pairs


def used_metric_names() -> dict[str, set[str]]:
    """Every metric name read by a rule, a dashboard panel or a dashboard variable -> where."""
    used: dict[str, set[str]] = {}

    def add(expr: str, where: str) -> None:
        for name in metric_names_in(expr):
            used.setdefault(name, set()).add(where)

    for group in build_rule_groups(CONFIG):
        for rule in group["rules"]:
            add(rule["expr"], f"rule {rule.get('alert') or rule.get('record')}")
    for dashboard, title, expr in all_queries(CONFIG):
        add(expand(expr, pod=".+"), f"dashboard {dashboard}: {title}")
    for dashboard, variable, selector, _label in variable_queries(CONFIG):
        add(expand(selector, pod=".+"), f"dashboard {dashboard}: variable {variable}")
    return used


def test_every_metric_used_by_rules_and_dashboards_exists(stack, prom):
    """Every series a rule or dashboard reads exists in Prometheus, bar Kubernetes-only ones."""
    used = used_metric_names()
    known = APP_SERIES | RECORDING_RULES | set(kubernetes_series.ALLOWED)
    unknown = {name: sorted(where) for name, where in used.items() if name not in known}
    assert not unknown, f"series from no catalog (typo?): {unknown}"

    # The simulated kube-state-metrics (local.kube_state) serves some Kubernetes-only series.
    required = sorted(set(used) - (set(kubernetes_series.KUBERNETES_ONLY) - set(SIMULATED)))
    assert set(SIMULATED) <= set(required)
    assert set(required) & RECORDING_RULES and set(required) & APP_SERIES
    present: set[str] = set()

    def all_present(result: list[dict]) -> bool:
        present.update(sample["metric"]["__name__"] for sample in result)
        return present >= set(required)

    matcher = "|".join(required)
    try:
        prom.wait_for(
            f'count by (__name__) ({{__name__=~"{matcher}"}})',
            stack.started + DATA_BOUND_SECONDS,
            all_present,
        )
    except AssertionError:
        missing = {name: sorted(used[name]) for name in required if name not in present}
        pytest.fail(f"series missing from the local Prometheus: {missing}")


LOCAL_SERIES = (
    APP_SERIES | RECORDING_RULES | set(SIMULATED) | {kubernetes_series.UP, kubernetes_series.ALERTS}
)
"""What the local Prometheus has: the app's series, the rules', the simulated kube-state-metrics
series, ``up`` and ``ALERTS``."""
FIRING_ALERTS = "Firing alerts"
"""Has rows only while an alert fires: checked in the metrics-gone test, which makes one fire."""


def local_queries() -> list[tuple[str, str, str]]:
    """Dashboard queries over series the local stack has (all but cAdvisor and the HPA's)."""
    return [
        (dashboard, title, expr)
        for dashboard, title, expr in all_queries(CONFIG)
        if metric_names_in(expand(expr, pod=".+")) <= LOCAL_SERIES and title != FIRING_ALERTS
    ]


def panel(dashboard: str, title: str) -> dict:
    """The panel ``title`` of the local configuration's dashboard ``dashboard``."""
    board = build_all(CONFIG)[dashboard]
    (found,) = [
        p for row in board["panels"] for p in [row, *row.get("panels", [])] if p["title"] == title
    ]
    return found


@pytest.mark.parametrize(
    ("dashboard", "title", "expr"),
    local_queries(),
    ids=[f"{d}:{t}:{i}" for i, (d, t, _) in enumerate(local_queries())],
)
def test_app_dashboard_query_returns_data(stack, prom, dashboard, title, expr):
    """Each panel query over local series returns a series after some traffic (errors
    injected), the Kubernetes ones from the simulated kube-state-metrics included."""
    query = expand(expr, pod=stack.pod_name)
    result = prom.wait_for(query, stack.started + DATA_BOUND_SECONDS)
    if CONFIG.server_error_matcher in expr:
        # The injected 500s must show: a ratio of 0 would mean the fault never reached the panel.
        prom.wait_for(
            query,
            stack.started + DATA_BOUND_SECONDS,
            lambda r: any(sample_value(s) > 0 for s in r),
        )
    assert result


def test_dashboard_variables_offer_the_local_namespace_and_pod(stack, prom):
    """The namespace and pod pickers find the labels the local scrape attaches."""
    prom.wait_for(f"up{SELECTOR}", stack.started + UP_BOUND_SECONDS)
    expected = {"namespace": CONFIG.namespace, "pod": stack.pod_name}
    for dashboard, variable, selector, label in variable_queries(CONFIG):
        values = {s["metric"].get(label) for s in prom.query(expand(selector, pod=".+"))}
        assert expected[label] in values, (dashboard, variable, values)


def test_the_deploy_annotation_marks_the_version_that_just_started(stack, prom):
    """Every dashboard's deploy annotation: the app's version is new at the stack's start (it
    did not exist rate_window ago), so the query returns it - the mark a rollout leaves."""
    for name, board in build_all(CONFIG).items():
        (deploys,) = [a for a in board["annotations"]["list"] if a.get("name") == "Deploys"]
        expr = expand(deploys["target"]["expr"], pod=".+")
        result = prom.wait_for(expr, stack.started + DATA_BOUND_SECONDS)
        info = prom.query(f"{metric_names.INFO}{SELECTOR}")
        assert {r["metric"]["version"] for r in result} == {i["metric"]["version"] for i in info}, (
            name
        )


def panel_query(dashboard: str, title: str, legend: str | None = None, **kwargs: str) -> str:
    """The expanded query of a panel (the one with ``legend``, when given)."""
    targets = [t for t in panel(dashboard, title)["targets"] if legend in (None, t["legendFormat"])]
    (target,) = targets
    text = expand_variables(target["expr"], config=CONFIG, **kwargs)
    assert "$" not in text, text
    return text


RESTARTS_CAUSED = 2


def test_the_restart_panel_counts_exactly_the_restarts_the_test_caused(stack, prom):
    """Restart the app twice as the kubelet would (SIGKILL, start again); over a step that
    spans both, the Container restarts query returns exactly 2 for the pod - not 4x, not an
    extrapolated 2.1. Runs after the data tests (a restart resets the app's counters)."""
    # kube-state-metrics' own job label, the app's namespace and pod
    restarts = (
        f'{kubernetes_series.POD_CONTAINER_RESTARTS}{{job="{CONFIG.kube_state_metrics_job}", '
        f'namespace="{CONFIG.namespace}", pod="{stack.pod_name}"}}'
    )
    prom.wait_for(f"{restarts} == 0", stack.started + DATA_BOUND_SECONDS)
    prom.wait_for(f"{metric_names.READY}{SELECTOR} == 1", stack.started + READY_BOUND_SECONDS)
    time.sleep(6.0)  # one more scrape of the 0, so the step's start holds it
    before = time.monotonic()
    for _ in range(RESTARTS_CAUSED):
        stack.restart_app()
    prom.wait_for(f"{restarts} == {RESTARTS_CAUSED}", time.monotonic() + 30)
    step = f"{int(time.monotonic() - before) + 3}s"  # $__interval: one bar spanning both
    (sample,) = prom.query(
        panel_query("overview", "Container restarts", pod=stack.pod_name, interval=step)
    )
    assert sample["metric"] == {"pod": stack.pod_name}
    assert sample_value(sample) == RESTARTS_CAUSED


def test_stopping_the_app_fires_metrics_gone_and_notifies_the_webhook(stack, prom):
    """Runs last (stops the app): the alert fires in Prometheus, then reaches the webhook; the
    ready-vs-desired tile reads the ready count while the app runs and 0 (red) once it is gone;
    the firing-alerts table lists the alert with its runbook."""
    # from now, not from the start: the restart test just restarted the app
    prom.wait_for(f"up{SELECTOR} == 1", time.monotonic() + UP_BOUND_SECONDS)
    ready_title = "Ready pods vs desired"
    ready_query = panel_query("overview", ready_title, "ready", pod=".+")
    ready_steps = panel("overview", ready_title)["fieldConfig"]["defaults"]["thresholds"]["steps"]
    running = prom.wait_for(
        ready_query,
        time.monotonic() + READY_BOUND_SECONDS,
        lambda r: len(r) == 1 and sample_value(r[0]) == 1,  # one instance, ready
    )
    assert threshold_color(ready_steps, sample_value(running[0])) == "green"
    desired = prom.query(panel_query("overview", ready_title, "desired", pod=".+"))
    assert [sample_value(s) for s in desired] == [1]
    stopped_at = time.monotonic()
    stack.stop_app()

    def firing(alert: dict) -> bool:
        return alert["labels"]["alertname"] == METRICS_ABSENT_ALERT and alert["state"] == "firing"

    while not any(firing(a) for a in prom.alerts()):
        assert time.monotonic() - stopped_at < FIRING_BOUND_SECONDS, prom.alerts()
        time.sleep(1.0)
    fired_after = time.monotonic() - stopped_at

    # A total outage: no ready series at all, yet the tile reads 0, and its thresholds make it
    # red (before the fix it showed only the desired count: nothing red).
    (outage,) = prom.query(ready_query)
    assert sample_value(outage) == 0
    assert threshold_color(ready_steps, 0) == "red"
    (scraped,) = prom.query(panel_query("overview", "Targets up vs expected", pod=".+"))
    assert sample_value(scraped) == 0
    rows = prom.query(panel_query("overview", FIRING_ALERTS, pod=".+"))
    (row,) = [r for r in rows if r["metric"]["alertname"] == METRICS_ABSENT_ALERT]
    firing_rule = next(a for a in prom.alerts() if firing(a))
    assert row["metric"]["runbook"] == firing_rule["annotations"]["runbook_url"]

    def notified(notification: dict) -> bool:
        return notification["status"] == "firing" and any(
            a["labels"]["alertname"] == METRICS_ABSENT_ALERT for a in notification["alerts"]
        )

    remaining = NOTIFIED_BOUND_SECONDS - (time.monotonic() - stopped_at)
    notification = stack.webhook.wait_for(notified, max(remaining, 0.0))
    assert notification is not None, f"no notification within {NOTIFIED_BOUND_SECONDS} s"
    # Routed by the project's tree: critical -> the pager receiver, swapped for the webhook.
    assert notification["receiver"] == alertmanager.PAGER
    assert notification["path"] == f"/{alertmanager.PAGER}"
    alert = next(
        a for a in notification["alerts"] if a["labels"]["alertname"] == METRICS_ABSENT_ALERT
    )
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["namespace"] == CONFIG.namespace
    assert alert["annotations"]["runbook_url"].startswith(CONFIG.runbook_base_url)
    # ... and printed as one JSON line.
    stack.out.flush()
    lines = [json.loads(line) for line in stack.out_path.read_text().splitlines()]
    assert any(notified(line) for line in lines if "alerts" in line)
    print(
        f"metrics-gone alert: firing {fired_after:.1f} s and notified "
        f"{time.monotonic() - stopped_at:.1f} s after the app stopped"
    )


# --- the command line: make run ------------------------------------------------------------------
def start_cli(tmp_path: Path, extra_env: dict[str, str] | None = None) -> tuple:
    """Start ``python -m local.stack`` on free ports; wait for its banner."""
    ports = Ports.free()
    env = {**os.environ, **{var: str(getattr(ports, name)) for name, var in PORT_ENV.items()}}
    env["TMPDIR"] = str(tmp_path)
    env.update(extra_env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "--no-grafana"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    banner = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        banner.append(line)
        if line.startswith("Ctrl-C stops everything"):
            return process, ports, "".join(banner)
    process.kill()
    raise AssertionError("no banner within 60 s:\n" + "".join(banner))


# How the runner ends (signals, closed stdout, SIGKILL, a failed component): test_stack_endings.py


def test_without_prometheus_it_says_how_to_install_and_still_runs_the_app(tmp_path):
    """PATH without the monitoring binaries: the app runs, the banner says what to install."""
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    process, ports, banner = start_cli(state, {"PATH": str(empty_bin)})
    try:
        assert "apt-get install prometheus prometheus-alertmanager" in banner
        assert "brew install prometheus alertmanager" in banner
        assert requests.get(f"http://127.0.0.1:{ports.app}/hello", timeout=5).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("tool", "argv", "text"),
    [
        ("promtool", ["check", "config"], "scrape_configs: [{job_name: x, scrape_interval: 5}]\n"),
        ("amtool", ["check-config"], "route: {receiver: nobody}\nreceivers: []\n"),
    ],
    ids=["promtool", "amtool"],
)
def test_an_invalid_generated_config_stops_the_start_with_the_checkers_message(
    tmp_path, tool, argv, text
):
    """promtool / amtool vet the generated files: a bad one fails with their output."""
    binary = require_binary(tool, hint="apt-get install prometheus prometheus-alertmanager")
    bad = tmp_path / "bad.yml"
    bad.write_text(text)
    with pytest.raises(StackError) as error:
        check_file([binary, *argv, str(bad)], bad.name)
    message = str(error.value)
    assert message.startswith("bad.yml is invalid")
    assert "FAILED" in message, message


def test_grafana_serves_the_generated_dashboards(tmp_path):
    """Only where a Grafana server is installed (optional for make run, absent in CI)."""
    if Binaries.find().grafana is None:
        pytest.skip("no grafana / grafana-server on PATH: make run starts Grafana only if present")
    prometheus_binaries()
    with LocalStack(
        config=CONFIG, ports=Ports.free(), out=sys.stderr, state_parent=tmp_path
    ) as local:
        assert "grafana" in local.children, local.notes
        found = requests.get(local.url("grafana") + "/api/search", timeout=10).json()
        by_uid = {d["uid"]: d for d in found}
        for uid in CONFIG.dashboard_uids.values():
            assert by_uid[uid]["folderTitle"] == CONFIG.dashboard_folder
