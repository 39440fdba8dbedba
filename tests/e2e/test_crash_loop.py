"""A crash-looping app pages on the local stack; a healthy one does not (issue 18).

The real stack (``local.stack.LocalStack``: the production gunicorn command, Prometheus,
Alertmanager, the blackbox exporter probing ``/readiness``) with the outage alerts of
``local_config()`` shortened so the test stays near two minutes: windows and ``for:`` of
``OUTAGE_WINDOW`` (30 s = 6 scrape/probe intervals of 5 s, above validation's floor of 4).

1. Healthy: for one whole window no outage alert is even pending in Prometheus and nothing
   reaches the pager; the probe reports success with the labels the alerts select.
2. Crash loop, driven from the test's main thread (children are started from the main thread
   only: ``local.processes.die_with_parent``): SIGKILL the app, leave it down
   ``DOWN_SECONDS``, start it again as the kubelet would (``LocalStack.restart_app``), let it
   serve ``UP_SECONDS``, repeat. Readiness comes after 1 s, so some probes and scrapes succeed:
   the flapping that resets a plain ``for:`` on ``up == 0``. The test asserts a critical page
   (``ServiceUnreachable`` or ``AllInstancesDown``) reaches the local webhook's pager receiver
   within ``PAGE_BOUND_SECONDS`` of the first crash: the window's share falling under 0.5 (at
   most one window) + ``for:`` + two evaluations of 5 s + ``group_wait`` 1 s + slack for a
   loaded machine.

A third, short test runs the stack without the blackbox exporter: it says how to install it and
runs the rest.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import time

import pytest

from alerts import alertmanager
from alerts.common import alert_prefix
from local.processes import Binaries
from local.stack import LocalStack, Ports
from monitoring import kubernetes_series
from monitoring.config import local_config
from tests.conftest import require_binary
from tests.support.prometheus import Prometheus, sample_value

pytestmark = pytest.mark.e2e

OUTAGE_WINDOW = "30s"
CONFIG = local_config(
    probe_window=OUTAGE_WINDOW,
    probe_failing_for=OUTAGE_WINDOW,
    outage_window=OUTAGE_WINDOW,
    outage_for=OUTAGE_WINDOW,
)
TIMING = alertmanager.Timing(group_wait="1s", group_interval="5s")
PREFIX = alert_prefix(CONFIG)
OUTAGE_PAGES = {f"{PREFIX}ServiceUnreachable", f"{PREFIX}AllInstancesDown"}
OUTAGE_ALERTS = {*OUTAGE_PAGES, f"{PREFIX}ProbeAbsent"}
HEALTHY_SECONDS = 30.0  # one whole window: a wrong condition would be pending within 5 s
DOWN_SECONDS = 8.0
UP_SECONDS = 3.0  # serving after /healthz answers: up for at most one scrape in three
PAGE_BOUND_SECONDS = 150.0
PROBE = (
    f'{kubernetes_series.PROBE_SUCCESS}{{job="{CONFIG.probe_job}", namespace="{CONFIG.namespace}"}}'
)


def require_stack_binaries() -> None:
    hint = "apt-get install prometheus prometheus-alertmanager prometheus-blackbox-exporter"
    require_binary("prometheus", hint=hint)
    require_binary("prometheus-alertmanager", shutil.which("alertmanager") or "", hint=hint)
    require_binary(
        "prometheus-blackbox-exporter", shutil.which("blackbox_exporter") or "", hint=hint
    )


def is_page(notification: dict) -> bool:
    """A firing notification at the pager receiver holding an outage page."""
    return (
        notification["path"] == f"/{alertmanager.PAGER}"
        and notification["status"] == "firing"
        and any(
            a["labels"].get("alertname") in OUTAGE_PAGES and a["labels"]["severity"] == "critical"
            for a in notification["alerts"]
        )
    )


def is_critical(notification: dict) -> bool:
    return notification["status"] == "firing" and any(
        a["labels"].get("severity") == "critical" for a in notification["alerts"]
    )


def targets_by_job(prom: Prometheus, jobs: set[str], timeout: float = 30.0) -> dict[str, dict]:
    """The active target of each job once every job in ``jobs`` has one (discovery takes a
    moment after start), failing with what Prometheus lists after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = {t["labels"]["job"]: t for t in prom.targets()}
        if jobs <= set(found) or time.monotonic() > deadline:
            assert jobs <= set(found), found
            return found
        time.sleep(0.5)


@pytest.fixture
def stack(tmp_path):
    require_stack_binaries()
    local = LocalStack(
        config=CONFIG,
        ports=Ports.free(),
        timing=TIMING,
        app_env={"READINESS_MIN_UPTIME_SECONDS": "1"},
        grafana=False,
        out=io.StringIO(),
        state_parent=tmp_path,
    )
    with local:
        yield local
    assert not local.state_dir.exists()


def test_a_crash_looping_app_pages_and_a_healthy_one_does_not(stack):
    prom = Prometheus(stack.url("prometheus"))
    assert "blackbox" in stack.children
    target = targets_by_job(prom, {CONFIG.probe_job})[CONFIG.probe_job]
    assert "/probe?module=http_2xx&target=" in target["scrapeUrl"], target
    ok = prom.wait_for(f"{PROBE} == 1", time.monotonic() + 30)
    assert ok[0]["metric"]["instance"] == f"{stack.url('app')}{CONFIG.probe_path}"

    # 1. Healthy: not even pending, nothing critical notified. ProbeAbsent may be pending from
    # an evaluation before the first probe (its for: is 2 m); it clears at the next evaluation.
    def outage_alerts() -> list[dict]:
        return [a for a in prom.alerts() if a["labels"]["alertname"] in OUTAGE_ALERTS]

    settle = time.monotonic() + 15
    while outage_alerts() and time.monotonic() < settle:
        time.sleep(1.0)
    healthy_until = time.monotonic() + HEALTHY_SECONDS
    while time.monotonic() < healthy_until:
        assert outage_alerts() == []
        time.sleep(2.0)
    assert [n for n in stack.webhook.notifications if is_critical(n)] == []
    (up,) = prom.query(f"avg_over_time(up{{{CONFIG.selector}}}[{OUTAGE_WINDOW}])")
    assert sample_value(up) == 1.0

    # 2. Crash loop: killed, down a while, back for a few seconds, killed again.
    started = time.monotonic()
    cycles = 0
    page = None
    while page is None and time.monotonic() - started < PAGE_BOUND_SECONDS:
        stack.children["app"].kill()  # SIGKILL of the whole group: a crash
        cycles += 1
        page = stack.webhook.wait_for(is_page, DOWN_SECONDS)
        if page is None:
            stack.restart_app()
            page = stack.webhook.wait_for(is_page, UP_SECONDS)
    took = time.monotonic() - started
    assert page is not None, (
        f"no outage page within {PAGE_BOUND_SECONDS:g} s of {cycles} crashes; "
        f"Prometheus' alerts: {prom.alerts()}; notifications: {stack.webhook.notifications}"
    )
    assert cycles >= 2, f"paged after {took:.0f} s, before the app ever came back"
    # It flapped: scrapes succeeded between the crashes (what resets a plain for: on up == 0).
    (scraped,) = prom.query(f"sum_over_time(up{{{CONFIG.selector}}}[{int(took)}s])")
    assert sample_value(scraped) >= 1, "the app was never up during the crash loop"
    names = {a["labels"]["alertname"] for a in page["alerts"]}
    print(f"paged after {took:.0f} s and {cycles} crashes: {sorted(names)}")


def test_without_the_blackbox_exporter_the_stack_says_how_to_install_it(tmp_path):
    require_stack_binaries()
    binaries = dataclasses.replace(Binaries.find(), blackbox_exporter=None)
    local = LocalStack(
        config=CONFIG,
        ports=Ports.free(),
        binaries=binaries,
        grafana=False,
        out=io.StringIO(),
        state_parent=tmp_path,
    )
    with local:
        assert "blackbox" not in local.children
        assert {"app", "prometheus", "alertmanager"} <= set(local.children)
        banner = local.banner()
        assert "apt-get install prometheus-blackbox-exporter" in banner
        assert f"{PREFIX}ProbeAbsent will" in banner
        jobs = targets_by_job(Prometheus(local.url("prometheus")), {CONFIG.job})
        assert CONFIG.probe_job not in jobs
