"""SLO recording rules and multi-window, multi-burn-rate alerts (Google SRE workbook, ch. 5).

Recording rules ``slo:sli_error:ratio_rate<window>`` (``monitoring.config.slo_error_ratio_record``)
hold, for every window of ``config.slo_windows()`` and every SLO, the error ratio 0-1 over API
routes: one series per SLO labelled ``slo``, ``job``, ``namespace``. Each is a ratio of sums over
all instances (never an average of per-instance ratios):

- availability: ``sum(rate(5xx)) / sum(rate(all))``;
- latency: ``(sum(rate(_count)) - sum(rate(_bucket{le=threshold}))) / sum(rate(_count))``, the
  share of requests slower than the SLO's threshold, which is a bucket edge so the SLI is exact.

Every window, up to the 30-day period, is computed directly from the counters rather than from
shorter recorded ratios: an average of 5m ratios over 30d weighs a quiet night like a busy day,
which a ratio of sums does not. At a 15 s scrape interval the 30d rate reads 172,800 samples per
series per evaluation, so the long windows live in a slow group (``groups``).

Low traffic (SRE workbook, "Alerting on SLOs", section "Low-traffic services and error budget
alerting"): with few requests one failed request is a huge error ratio, e.g. 1 of 10 requests in
an hour is a 100x burn of a 99.9 % SLO. A page (``traffic_guarded``) therefore also needs its
LONG window to hold more than ``min_requests(slo, burn) = 1 / (factor * (1 - objective))``
requests (``page_min_requests``): with n requests one bad request is a ratio of 1/n, which stays
at or under the threshold ``factor * (1 - objective)`` exactly when n >= 1 / threshold. So a
single bad request can never page, while any outage with more than one failure in the window
still can: 99.9 % needs > 69.4 requests in the 1h window of the 14.4x page and > 166.7 in the 6h
window of the 6x page; 99 % (latency) > 6.9 and > 16.7. The long window, not the short one,
because it is the larger sample (a short-window guard would need ~12x the traffic for the
same protection and silence real outages of quiet services).

Idle service: no requests give 0/0 = NaN, which compares false, so nothing pages, and the
dashboards show "no data" rather than a fake 0 or 100 %. A service with traffic but no 5xx yet
has no 5xx series at all: ``or 0 * total`` turns that into an honest 0 instead of no data. An
outage where every request fails gives a ratio of 1 and pages within minutes.

Burn-rate alerts: one alert name per SLO (``<Prefix><Slo>ErrorBudgetBurn``), one rule per
``config.burn_rate_windows`` entry labelled ``long_window``/``short_window``; page and ticket
share the name so Alertmanager's inhibition (same alertname and namespace) mutes the ticket
while the page fires.
"""

from __future__ import annotations

from alerts.common import (
    alert,
    alert_prefix,
    group,
    le_matcher,
    number,
    promql,
    record,
    selector,
)
from app import metric_names
from monitoring.config import (
    SLO,
    BurnRateWindow,
    MonitoringConfig,
    duration_seconds,
    slo_error_ratio_record,
)

SERVICE_LABELS = "job, namespace"
PAGE_SEVERITY = "critical"
"""The severity of the burn-rate rules that page (``BurnRateWindow.severity``)."""


def _total_series(slo: SLO) -> str:
    """The counter of all events of an SLO (without selector)."""
    if slo.latency_threshold_seconds is None:
        return metric_names.HTTP_REQUESTS
    return f"{metric_names.HTTP_REQUEST_DURATION}_count"


def _events_selector(config: MonitoringConfig, slo: SLO, *extra: str) -> str:
    """The selector of an SLO's events: API routes; for availability without 499s.

    A 499 (``metric_names.STATUS_CLIENT_CLOSED``) is a response the client never received: it
    is neither a good nor a bad event of availability (the client gave up, the server did not
    fail), while its duration is in the latency histogram and burns the latency SLO.
    """
    matchers = [config.api_route_matcher, *extra]
    if slo.latency_threshold_seconds is None:
        matchers.append(config.client_closed_matcher)
    return selector(config, *matchers)


def error_ratio_expr(config: MonitoringConfig, slo: SLO, window: str) -> str:
    """PromQL of an SLO's error ratio (0-1) over ``window``, by job and namespace."""
    api = _events_selector(config, slo)
    total = f"sum by ({SERVICE_LABELS}) (rate({_total_series(slo)}{api}[{window}]))"
    if slo.latency_threshold_seconds is None:
        errors = selector(config, config.api_route_matcher, config.server_error_matcher)
        bad = (
            f"sum by ({SERVICE_LABELS}) (rate({metric_names.HTTP_REQUESTS}{errors}[{window}]))\n"
            f"  or\n  0 * {total}"
        )
    else:
        fast = selector(config, config.api_route_matcher, le_matcher(slo.latency_threshold_seconds))
        bucket = f"{metric_names.HTTP_REQUEST_DURATION}_bucket"
        bad = f"{total}\n  -\n  sum by ({SERVICE_LABELS}) (rate({bucket}{fast}[{window}]))"
    return promql(f"(\n  {bad}\n)\n/\n{total}")


def fast_windows(config: MonitoringConfig) -> tuple[str, ...]:
    """The windows recorded in the fast group: up to the longest window of a page (5m ... 6h).

    Shortest first; the rest of ``config.slo_windows()`` (1d, 3d, 30d) go to the slow group.
    """
    pages = [b for b in config.burn_rate_windows if b.severity == PAGE_SEVERITY]
    longest = max((duration_seconds(w) for b in pages for w in (b.long, b.short)), default=0)
    return tuple(w for w in config.slo_windows() if duration_seconds(w) <= longest)


def recording_rules(config: MonitoringConfig, windows: tuple[str, ...] | None = None) -> list[dict]:
    """One record per SLO and window (default: ``config.slo_windows()``), shortest first."""
    return [
        record(
            slo_error_ratio_record(window),
            error_ratio_expr(config, slo, window),
            labels={"slo": slo.name},
        )
        for window in (config.slo_windows() if windows is None else windows)
        for slo in config.slos
    ]


def budget_alert_name(config: MonitoringConfig, slo: SLO) -> str:
    """The burn-rate alert name of an SLO, e.g. ``DemoAppAvailabilityErrorBudgetBurn``."""
    return f"{alert_prefix(config)}{slo.name.capitalize()}ErrorBudgetBurn"


def traffic_guarded(burn: BurnRateWindow) -> bool:
    """Whether the burn-rate rule ``burn`` carries the low-traffic guard (``page_min_requests``).

    Only pages (``severity: critical``) are guarded: a page wakes someone, and their windows
    (1h, 6h) hold few requests on a quiet service. Tickets (1d, 3d long windows) keep reporting a
    slow burn on a low-traffic service.
    """
    return burn.severity == PAGE_SEVERITY


def min_requests(slo: SLO, burn: BurnRateWindow) -> float:
    """The requests a guarded page's long window must exceed: ``1 / (factor * (1 - objective))``.

    Below it, a single bad request (ratio 1/n) could reach the alert threshold
    ``factor * (1 - objective)``; above it, it cannot (SRE workbook, "Alerting on SLOs",
    "Low-traffic services and error budget alerting"). E.g. 99.9 % at 14.4x: 69.4 (so >= 70
    requests); at 6x: 166.7; 99 % at 14.4x: 6.9; at 6x: 16.7. Unit: requests (a count).
    """
    return 1 / (burn.factor * slo.error_budget)


def page_min_requests(
    config: MonitoringConfig, slo: SLO, burn: BurnRateWindow, threshold: str
) -> str:
    """PromQL guard: the SLI's API requests over ``burn.long`` exceed ``1 / threshold``.

    ``threshold`` is the alert's PromQL threshold ``(factor * (1 - objective))``, so the rule
    reads as its own derivation (``min_requests``).
    """
    api = _events_selector(config, slo)
    return (
        f"sum by ({SERVICE_LABELS}) (increase({_total_series(slo)}{api}[{burn.long}])) "
        f"> 1 / {threshold}"
    )


def remaining_budget_query(config: MonitoringConfig, slo: SLO) -> str:
    """PromQL (a Go ``printf`` format taking job and namespace): the share 0-1 of the SLO
    period's error budget left, ``1 - error ratio over the period / (1 - objective)``.

    Reads the period's record (``slo_error_ratio_record(config.slo_period)``); ``>= 0`` drops
    a NaN ratio (an idle period: 0/0), so the query returns nothing rather than a fake share.
    Negative when the budget is overspent.
    """
    record = slo_error_ratio_record(config.slo_period)
    return (
        f'1 - max({record}{{job="%s", namespace="%s", slo="{slo.name}"}} >= 0) '
        f"/ (1 - {number(slo.objective)})"
    )


def remaining_budget_template(config: MonitoringConfig, slo: SLO) -> str:
    """Go template text: how long the error budget LEFT lasts at the alert's burn rate.

    ``left x period / burn rate`` seconds (SRE workbook, "Alerting on SLOs": time to exhaust
    the budget), rounded to the second and printed by ``humanizeDuration`` (e.g. ``7h 12m 0s``);
    ``left`` comes from ``remaining_budget_query`` at the alert's evaluation. Templates cannot
    do arithmetic, so the products run as PromQL ``query`` calls (``$value`` is the burn rate:
    the alert's expression returns it). Three texts: the share left and how long it lasts; "is
    already spent" when nothing is left; "is unknown" when the period's record is missing (a
    new Prometheus, or the slow group not yet evaluated).
    """
    period_seconds = duration_seconds(config.slo_period)
    period = config.slo_period
    left = f"printf `{remaining_budget_query(config, slo)}` $labels.job $labels.namespace | query"
    lasts = (
        f'printf "round(vector({period_seconds} * %f / %f))" $left $value '
        "| query | first | value | humanizeDuration"
    )
    return (
        f"{{{{ with {left} }}}}{{{{ $left := . | first | value }}}}"
        f"{{{{ if gt $left 0.0 }}}}the {{{{ humanizePercentage $left }}}} of the {period} "
        f"error budget left lasts {{{{ {lasts} }}}}"
        f"{{{{ else }}}}the {period} error budget is already spent{{{{ end }}}}"
        f"{{{{ else }}}}what is left of the {period} error budget is unknown (no "
        f"{period} SLI yet){{{{ end }}}}"
    )


def burn_rate_alerts(config: MonitoringConfig) -> list[dict]:
    """The multi-window, multi-burn-rate alerts: each SLO x each ``config.burn_rate_windows``.

    Condition (SRE workbook, "multiwindow, multi-burn-rate alerts"): the error ratio over the
    long AND over the short window both exceed ``factor * (1 - objective)``. The short window
    makes the alert stop soon after the burn stops. A page (``traffic_guarded``) also needs the
    long window to hold more than ``min_requests`` API requests (``page_min_requests``), so a
    quiet service does not page on a single failed request.
    """
    rules = []
    for slo in config.slos:
        name = budget_alert_name(config, slo)
        sel = selector(config, f'slo="{slo.name}"')
        for burn in config.burn_rate_windows:
            budget = f"(1 - {number(slo.objective)})"
            factor = number(burn.factor)
            # Each side is the burn rate (error ratio / error budget), so the alert's value is
            # the burn measured over the long window, which the description states (alert
            # templates cannot do arithmetic on their own).
            long_record = slo_error_ratio_record(burn.long)
            short_record = slo_error_ratio_record(burn.short)
            expr = (
                f"{long_record}{sel} / {budget} > {factor}\n"
                f"and\n{short_record}{sel} / {budget} > {factor}"
            )
            if traffic_guarded(burn):
                guard = page_min_requests(config, slo, burn, f"({factor} * {budget})")
                expr += f"\nand on ({SERVICE_LABELS})\n{guard}"
            rules.append(
                alert(
                    name,
                    expr=expr,
                    for_=burn.for_,
                    severity=burn.severity,
                    labels={"long_window": burn.long, "short_window": burn.short},
                    summary=(
                        f"{{{{ $labels.job }}}} burns its {slo.name} error budget "
                        f"{factor}x too fast"
                    ),
                    description=(
                        f"SLO {slo.name} of job {{{{ $labels.job }}}} in namespace "
                        f"{{{{ $labels.namespace }}}} ({slo.description}): over the last "
                        f"{burn.long} the error budget burned "
                        f'{{{{ $value | printf "%.1f" }}}}x as fast as the SLO allows (this '
                        f"alert: over {factor}x, over the last {burn.short} too); at that rate "
                        f"{remaining_budget_template(config, slo)}."
                    ),
                )
            )
    return rules


def groups(config: MonitoringConfig) -> list[dict]:
    """Two groups: ``slo`` (fast) and ``slo-long`` (every ``config.slo_slow_rules_interval``).

    - ``slo``: the records of ``fast_windows`` (5m ... 6h) and the page alerts, at Prometheus'
      global evaluation interval. A page reads only records of its own group, which Prometheus
      evaluates in order (separate groups run concurrently), so it always sees this
      evaluation's ratios; the costly long windows no longer delay it.
    - ``slo-long``: the 1d, 3d and 30d records (a 30d rate reads 172,800 samples per series at a
      15 s scrape) and the ticket alerts. A ticket's short-window record (2h, 6h) comes from the
      fast group, at most one fast interval old: nothing for an alert that waits 1h or 3h.

    promtool 2.42 ignores a group's ``interval`` in unit tests (every group is evaluated at the
    test file's ``evaluation_interval``), so the ticket cases run in a test file whose
    evaluation interval is ``config.slo_slow_rules_interval`` (``alerts.testcases.slo``).
    """
    fast = fast_windows(config)
    slow = tuple(w for w in config.slo_windows() if w not in fast)
    alerts = burn_rate_alerts(config)
    pages = [a for a in alerts if a["labels"]["severity"] == PAGE_SEVERITY]
    tickets = [a for a in alerts if a["labels"]["severity"] != PAGE_SEVERITY]
    long_group = group(
        config,
        "slo-long",
        recording_rules(config, slow) + tickets,
        interval=config.slo_slow_rules_interval,
    )
    return [group(config, "slo", recording_rules(config, fast) + pages), long_group]
