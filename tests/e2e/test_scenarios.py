"""The fault scenarios (``make run SCENARIO=...``) on the real stack, with shortened ``for:``.

One stack (``LocalStack``, as ``make run`` builds it) with the error-burn scenario's fault
injection and traffic; the 14.4x page waits ``for: 10s`` and the metrics-gone page 10 s instead
of 2m / 1m, Alertmanager's ``group_wait`` is 1 s. The scenario watcher prints its progress line
(elapsed, expected, the alert's state, the burn rate) and the notification's arrival; then a
metrics-gone watcher on the same stack stops the app and waits for that page. About 40 s.
"""

from __future__ import annotations

import dataclasses
import io
import re
import time

import pytest

from alerts import alertmanager
from local import scenarios
from local.setup import Ports
from local.stack import LocalStack
from monitoring.config import CONFIG, local_config
from tests.e2e.test_local_stack import prometheus_binaries

pytestmark = pytest.mark.e2e

PAGE = dataclasses.replace(CONFIG.burn_rate_windows[0], for_="10s")
CONFIG_SHORT = local_config(
    metrics_absent_for="10s", burn_rate_windows=(PAGE, *CONFIG.burn_rate_windows[1:])
)
TIMING = alertmanager.Timing(group_wait="1s", group_interval="5s")
BOUND_SECONDS = 120.0


def run_watch(stack: LocalStack, scenario: scenarios.Scenario, out: io.StringIO) -> list[str]:
    """Tick a watcher until the notification arrived; return the lines it printed."""
    start = len(out.getvalue().splitlines())
    watch = scenarios.ScenarioWatch(
        scenario,
        stack.config,
        stack.url("prometheus"),
        stack.webhook.notifications,
        stack.webhook.arrivals,
        stack.say,
        stack.stop_app,
        TIMING.group_wait,
    )
    deadline = time.monotonic() + BOUND_SECONDS
    while not watch.finished:
        assert time.monotonic() < deadline, out.getvalue()
        watch.tick()
        time.sleep(0.5)
    return [line for line in out.getvalue().splitlines()[start:] if line.startswith(scenario.name)]


def test_scenarios_show_progress_and_the_notifications_arrival(tmp_path, monkeypatch):
    prometheus_binaries()
    monkeypatch.setattr(scenarios, "PROGRESS_SECONDS", 3.0)
    out = io.StringIO()
    burn = scenarios.SCENARIOS["error-burn"]
    with LocalStack(
        config=CONFIG_SHORT,
        ports=Ports.free(),
        timing=TIMING,
        app_env={**burn.app_env, "FAULT_ERROR_RATIO": "0.5"},
        traffic_rate=20.0,
        grafana=False,
        out=out,
        state_parent=tmp_path,
    ) as stack:
        lines = run_watch(stack, burn, out)
        progress = [line for line in lines if " of ~" in line]
        assert progress, lines
        pattern = (
            r"error-burn: \d+ s of ~\d+ s; DemoAppAvailabilityErrorBudgetBurn "
            r"(inactive|pending|firing); burn rate 5m ([\d.]+x|-), 1h ([\d.]+x|-) "
            r"\(pages above 14.4x on both\)"
        )
        assert all(re.fullmatch(pattern, line) for line in progress), progress
        assert any(re.search(r"5m \d", line) for line in progress), progress
        assert re.fullmatch(
            r"error-burn: DemoAppAvailabilityErrorBudgetBurn notification arrived at "
            r"\d\d:\d\d:\d\d at /pager \(\d+ s, expected ~\d+ s\); .*",
            lines[-1],
        ), lines

        gone = run_watch(stack, scenarios.SCENARIOS["metrics-gone"], out)
        assert gone[0].startswith("metrics-gone: app stopped; DemoAppMetricsAbsent expected")
        assert not stack.children["app"].running()
        assert "DemoAppMetricsAbsent notification arrived at" in gone[-1], gone
