"""Fault scenarios of the local stack: ``make run SCENARIO=<name>`` (``--scenario <name>``).

A scenario sets the app's fault injection (and traffic), then watches until the page it causes
reaches the local webhook, printing a progress line every ``PROGRESS_SECONDS``::

    error-burn: 61 s of ~160 s; DemoAppAvailabilityErrorBudgetBurn pending;
        burn rate 5m 147.4x, 1h 147.4x (pages above 14.4x on both)

(one line; wrapped here)

and, when the notification arrives, one line with its arrival time. The stack keeps running
afterwards (look around; Ctrl-C stops everything).

============  ============================================  =====================================
name          what it does                                  the page it waits for
============  ============================================  =====================================
metrics-gone  stops the app once Prometheus has scraped it  ``<Prefix>MetricsAbsent`` (pager)
error-burn    traffic, 20 % of ``/hello`` answer 500        ``<Prefix>AvailabilityErrorBudgetBurn``
latency       traffic, 30 % of ``/hello`` take 1.5 s        ``<Prefix>LatencyErrorBudgetBurn``
============  ============================================  =====================================

The expected time comes from the config (``expected_seconds``), not from a stopwatch.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from alerts.common import alert_prefix
from alerts.slo import budget_alert_name
from monitoring.config import MonitoringConfig, duration_seconds, slo_error_ratio_record

PROGRESS_SECONDS = 10.0
"""How often the progress line is printed while a scenario waits."""
SETTLE_SECONDS = 30.0
"""Added to ``for:`` + ``group_wait`` in the expected time: two scrapes before a first rate(),
rule evaluations, the low-traffic guard's requests and Prometheus' send to Alertmanager."""


@dataclass(frozen=True)
class Scenario:
    """One fault scenario.

    Attributes:
        name: what ``--scenario`` takes.
        summary: one line for ``--help`` and the banner.
        app_env: the app's fault injection variables.
        traffic: the scenario needs the traffic generator.
        slo: the SLO whose burn rate the progress line shows (``None``: none).
        stop_app: stop the app once Prometheus has scraped it (the metrics-gone page).
    """

    name: str
    summary: str
    app_env: dict[str, str] = field(default_factory=dict)
    traffic: bool = False
    slo: str | None = None
    stop_app: bool = False

    def alert(self, config: MonitoringConfig) -> str:
        """The alert name the scenario waits for."""
        if self.slo is None:
            return f"{alert_prefix(config)}MetricsAbsent"
        return budget_alert_name(config, config.slo(self.slo))

    def page_window(self, config: MonitoringConfig):
        """The fastest paging burn-rate window (``BurnRateWindow``) of the config."""
        pages = [w for w in config.burn_rate_windows if w.severity == "critical"]
        return min(pages, key=lambda w: duration_seconds(w.for_) + duration_seconds(w.long))

    def expected_seconds(self, config: MonitoringConfig, group_wait: str) -> float:
        """About how long the page takes: ``for:`` + ``group_wait`` + ``SETTLE_SECONDS``.

        ``for:`` is ``metrics_absent_for`` (counted from the app's stop) or the fastest paging
        burn-rate window's (counted from the start).
        """
        wait = config.metrics_absent_for if self.slo is None else self.page_window(config).for_
        return duration_seconds(wait) + duration_seconds(group_wait) + SETTLE_SECONDS


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "metrics-gone",
            "stop the app once scraped: the metrics-gone page",
            stop_app=True,
        ),
        Scenario(
            "error-burn",
            "traffic with 20 % of /hello answering 500: the availability SLO burn page",
            app_env={"FAULT_ERROR_RATIO": "0.2"},
            traffic=True,
            slo="availability",
        ),
        Scenario(
            "latency",
            "traffic with 30 % of /hello taking 1.5 s: the latency SLO burn page",
            app_env={"FAULT_LATENCY_RATIO": "0.3", "FAULT_LATENCY_SECONDS": "1.5"},
            traffic=True,
            slo="latency",
        ),
    )
}


def prometheus_query(base_url: str, expr: str, timeout: float = 2.0) -> list[dict]:
    """The instant vector of ``expr`` from the Prometheus at ``base_url`` (``[]`` on error)."""
    url = f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local http
            body = json.load(response)
    except (OSError, ValueError):
        return []
    return body.get("data", {}).get("result", []) if body.get("status") == "success" else []


def alert_state(base_url: str, alertname: str, timeout: float = 2.0) -> str:
    """``"firing"``, ``"pending"`` or ``"inactive"`` for ``alertname`` in Prometheus."""
    try:
        with urllib.request.urlopen(f"{base_url}/api/v1/alerts", timeout=timeout) as response:  # noqa: S310
            alerts = json.load(response)["data"]["alerts"]
    except (OSError, ValueError, KeyError):
        return "unknown"
    states = {a["state"] for a in alerts if a["labels"].get("alertname") == alertname}
    return "firing" if "firing" in states else "pending" if "pending" in states else "inactive"


class ScenarioWatch:
    """Follows a running scenario: call ``tick()`` often (the runner does, every 0.5 s).

    Args:
        scenario: the scenario.
        config: the monitoring config the stack runs.
        prometheus_url: ``http://127.0.0.1:<port>`` of the local Prometheus.
        notifications: the webhook's notification list (read, never changed).
        arrivals: the webhook's arrival times (``time.time()``), index-aligned.
        say: prints one line.
        stop_app: stops the app (for ``metrics-gone``).
        group_wait: Alertmanager's ``group_wait`` locally.
        clock: monotonic seconds (tests).
    """

    def __init__(
        self,
        scenario: Scenario,
        config: MonitoringConfig,
        prometheus_url: str,
        notifications: list[dict],
        arrivals: list[float],
        say: Callable[[str], None],
        stop_app: Callable[[], object],
        group_wait: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scenario, self.config, self.prometheus_url = scenario, config, prometheus_url
        self.notifications, self.arrivals = notifications, arrivals
        self.say, self._stop_app, self.clock = say, stop_app, clock
        self.alertname = scenario.alert(config)
        self.expected = scenario.expected_seconds(config, group_wait)
        self.started = clock()
        self.app_stopped_at: float | None = None
        self.finished = False
        self._next_progress = self.started + PROGRESS_SECONDS

    def _origin(self) -> float | None:
        """Where the expected time counts from: the start, or the app's stop."""
        return self.app_stopped_at if self.scenario.stop_app else self.started

    def tick(self) -> None:
        """Stop the app when due, print progress when due, report the notification once."""
        if self.finished:
            return
        now = self.clock()
        if self.scenario.stop_app and self.app_stopped_at is None and self._scraped():
            self._stop_app()
            self.app_stopped_at = self.clock()
            self.say(
                f"{self.scenario.name}: app stopped; {self.alertname} expected in "
                f"~{self.expected:.0f} s"
            )
        arrived = self._notification()
        if arrived is not None:
            notification, at = arrived
            origin = self._origin() or self.started
            took = time.time() - at
            self.finished = True
            self.say(
                f"{self.scenario.name}: {self.alertname} notification arrived at "
                f"{time.strftime('%H:%M:%S', time.localtime(at))} at /{notification['receiver']}"
                f" ({now - took - origin:.0f} s, expected ~{self.expected:.0f} s); "
                "the stack keeps running, Ctrl-C stops everything"
            )
            return
        if now >= self._next_progress:
            self._next_progress = now + PROGRESS_SECONDS
            self.say(self.progress_line(now))

    def progress_line(self, now: float) -> str:
        """``<name>: <elapsed> s of ~<expected> s; <alert> <state>; <burn rates>``."""
        origin = self._origin()
        elapsed = "waiting for the first scrape" if origin is None else f"{now - origin:.0f} s"
        state = alert_state(self.prometheus_url, self.alertname)
        return (
            f"{self.scenario.name}: {elapsed} of ~{self.expected:.0f} s; {self.alertname} "
            f"{state}; {self.burn_text()}"
        )

    def burn_text(self) -> str:
        """The current burn rate over the page's windows, or the target's ``up``."""
        if self.scenario.slo is None:
            result = prometheus_query(self.prometheus_url, f"up{{{self.config.selector}}}")
            up = result[0]["value"][1] if result else "no sample"
            return f"up {up}"
        slo = self.config.slo(self.scenario.slo)
        window = self.scenario.page_window(self.config)
        rates = []
        for w in (window.short, window.long):
            expr = (
                f'{slo_error_ratio_record(w)}{{slo="{slo.name}", {self.config.selector}}}'
                f" / {slo.error_budget:.6g}"
            )
            result = prometheus_query(self.prometheus_url, expr)
            rates.append(f"{w} {float(result[0]['value'][1]):.1f}x" if result else f"{w} -")
        return f"burn rate {', '.join(rates)} (pages above {window.factor:g}x on both)"

    def _scraped(self) -> bool:
        result = prometheus_query(self.prometheus_url, f"up{{{self.config.selector}}} == 1")
        return bool(result)

    def _notification(self) -> tuple[dict, float] | None:
        for index, notification in enumerate(list(self.notifications)):
            if notification.get("status") != "firing":
                continue
            names = {a.get("labels", {}).get("alertname") for a in notification.get("alerts", [])}
            if self.alertname in names and index < len(self.arrivals):
                return notification, self.arrivals[index]
        return None


def describe() -> str:
    """The scenarios for ``--help``: ``name: summary`` per line."""
    return "; ".join(f"{s.name}: {s.summary}" for s in SCENARIOS.values())
