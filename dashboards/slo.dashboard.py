"""Demo App / SLO: how much error budget is left, and how fast is it burning?

One row per SLO in ``config.slos``. Every query reads the SLO recording rules
``slo:sli_error:ratio_rate<window>`` (``monitoring.config.slo_error_ratio_record``; labels
``slo``, ``job``, ``namespace``; value: the error ratio 0-1 over the window), so the windows are
fixed by the rules, not by the dashboard's time range. Formulas (Google SRE workbook, chapter
"Alerting on SLOs"):

- error budget = 1 - objective; burn rate = error ratio / error budget (1 = the budget lasts
  exactly the SLO period);
- error budget remaining = 1 - error ratio over the period / error budget (may go negative).

- time to exhaustion = budget remaining x period / burn rate (the budget lasts one period at a
  burn rate of 1).

Per SLO, as Pyrra and Sloth show it and then some: objective and period (row title), budget
left and its burn-down, time to exhaustion, the SLO alerts' state, the burn rate of every window
and of each alerting window pair against its page/ticket threshold, and the good/total events.

The recording rules aggregate over pods, so this dashboard has no ``pod`` variable; the
good/total event panel reads the app's series over all pods for the same reason.
"""

from __future__ import annotations

from grafanalib.core import Dashboard

from alerts.common import le_matcher
from alerts.slo import budget_alert_name
from app import metric_names as m
from dashboards import panels as p
from monitoring import kubernetes_series as k8s
from monitoring.config import (
    CONFIG,
    SLO,
    MonitoringConfig,
    duration_seconds,
    slo_error_ratio_record,
)

RATE = "$__rate_interval"
NOT_BURNING_SECONDS = 100 * 365 * 86400
"""A time to exhaustion beyond a century (+Inf when nothing burns) reads "not burning"."""

EVEN_SPEND = p.EVEN_SPEND


def _burn_thresholds(config: MonitoringConfig) -> dict[str, list[dict]]:
    """Per window: ``panels.burn_rate_steps`` (orange from an even spend, red from the lowest
    burn-rate alert factor using that window)."""
    return {window: p.burn_rate_steps(config, window) for window in config.slo_windows()}


def _severity_name(severity: str) -> str:
    return "page" if severity == "critical" else "ticket"


def _good_and_total(slo: SLO, config: MonitoringConfig) -> tuple[str, str]:
    """PromQL for the SLO's good and total events per second on API routes (the SLI's inputs;
    the recording rules in alerts/slo.py divide the same series)."""
    # All pods (this dashboard has no pod variable), as the recording rules aggregate them.
    api = p.namespace_selector(config.api_route_matcher, job=config.job)
    if slo.latency_threshold_seconds is None:
        total = f"sum(rate({m.HTTP_REQUESTS}{api}[{RATE}]))"
        bad_selector = p.namespace_selector(
            config.api_route_matcher, config.server_error_matcher, job=config.job
        )
        bad = f"(sum(rate({m.HTTP_REQUESTS}{bad_selector}[{RATE}])) or vector(0))"
        return f"{total} - {bad}", total
    bound = le_matcher(slo.latency_threshold_seconds)  # spelled as 2.x and 3.x store it
    fast = p.namespace_selector(config.api_route_matcher, bound, job=config.job)
    good = f"sum(rate({m.HTTP_REQUEST_DURATION}_bucket{fast}[{RATE}]))"
    total = f"sum(rate({m.HTTP_REQUEST_DURATION}_count{api}[{RATE}]))"
    return good, total


def _slo_row(slo: SLO, config: MonitoringConfig) -> p.Row:
    selector = p.namespace_selector(f'slo="{slo.name}"', job=config.job)
    budget = p.number(slo.error_budget)
    period = config.slo_period
    objective = f"{p.number(slo.objective * 100)} %"
    remaining_expr = f"1 - ({slo_error_ratio_record(period)}{selector} / {budget})"
    page = next(b for b in config.burn_rate_windows if b.severity == "critical")

    remaining = p.stat(
        f"Error budget remaining ({period})",
        f"How much of the {period} error budget ({p.number(slo.error_budget * 100)} % of "
        f"requests) is left? 1 - error ratio over {period} / error budget. Bad: orange below "
        f"{p.number(p.BUDGET_LOW * 100)} %, red once the budget is spent (below 0 %).",
        [p.target(remaining_expr, "remaining")],
        unit=p.units.PERCENT_UNIT,
        thresholds=p.budget_steps(),
        decimals=1,
        width=4,
        height=8,
    )
    seconds = duration_seconds(period)
    exhaustion = p.stat(
        f"Time to exhaustion at the {page.long} burn",
        f"How long until the budget is gone if errors continue as in the last {page.long}? "
        f"Remaining budget x {period} / burn rate over {page.long} (a burn rate of 1 spends "
        f"the whole budget in {period}). Bad: red under a day (0 = already spent), orange "
        'under a week; "not burning" when no error spends it.',
        [
            p.target(
                # a spent budget counts as 0 left; no burn divides by 0 = +Inf ("not burning")
                f"clamp_min({remaining_expr}, 0) * {seconds}"
                f" / ({slo_error_ratio_record(page.long)}{selector} / {budget})",
                "time left",
            )
        ],
        unit=p.units.SECONDS,
        thresholds=p.steps((86400, "orange"), (7 * 86400, "green"), base="red"),
        mappings=[
            # `to` null: unbounded (+Inf itself is beyond any number JSON can hold)
            {
                "type": "range",
                "options": {
                    "from": NOT_BURNING_SECONDS,
                    "to": None,
                    "result": {"text": "not burning", "color": "green", "index": 0},
                },
            },
            # 0 / 0: nothing left and nothing burning
            {
                "type": "special",
                "options": {
                    "match": "nan",
                    "result": {"text": "spent", "color": "red", "index": 1},
                },
            },
        ],
        width=4,
        height=8,
    )
    alertname = budget_alert_name(config, slo)
    severities = sorted({b.severity for b in config.burn_rate_windows})
    pairs_of = {
        sev: ", ".join(f"{b.long}/{b.short}" for b in config.burn_rate_windows if b.severity == sev)
        for sev in severities
    }
    alerts = p.stat(
        "SLO alerts firing",
        f"Is the {alertname} alert firing? The number of firing alerts per severity "
        "(Prometheus' ALERTS): "
        + "; ".join(f"{_severity_name(sev)}: windows {pairs_of[sev]}" for sev in severities)
        + ". Bad: any page (red), any ticket (orange).",
        [
            p.target(
                # `or vector(0)`: no firing alert is 0, not "no data"
                f"count({k8s.ALERTS}"
                + p.namespace_selector(
                    f'alertname="{alertname}"', f'severity="{sev}"', 'alertstate="firing"'
                )
                + ") or vector(0)",
                _severity_name(sev),
            )
            for sev in severities
        ],
        unit=p.units.SHORT,
        thresholds=p.steps((1, "red")),
        overrides=p.overrides_thresholds({"ticket": p.steps((1, "orange"))}),
        decimals=0,
        width=4,
        height=8,
        graph=False,
    )
    burn = p.bar_gauge(
        "Burn rate per window",
        "How fast is the budget burning over each alert window? Error ratio / error budget "
        f"(1 = the budget lasts exactly {period}). Orange above 1; red from the lowest "
        "burn-rate alert factor that uses the window (the alert fires when its long and its "
        "short window both exceed it). Bad: red bars, a page or ticket is near.",
        [
            # instant: a bar shows the latest value only, no need to fetch a range
            p.target(f"{slo_error_ratio_record(w)}{selector} / {budget}", w, instant=True)
            for w in config.slo_windows()
        ],
        unit=p.units.NONE_FORMAT,
        thresholds=p.steps((EVEN_SPEND, "red")),
        overrides=p.overrides_thresholds(_burn_thresholds(config)),
        decimals=2,
        width=12,
    )
    remaining_over_time = p.timeseries(
        f"Error budget remaining over time ({period} window)",
        f"Is the budget trending towards zero (the burn-down)? The remaining {period} error "
        "budget at each point in time. Bad: a falling line (errors spend it); below 0 (red) "
        "the SLO is missed.",
        [p.target(remaining_expr, "remaining")],
        unit=p.units.PERCENT_UNIT,
        thresholds=p.steps((0.0, "green"), base="red"),
        width=12,
    )
    short = config.slo_windows()[0]
    sli = p.timeseries(
        "SLI over time",
        f"Are we meeting the objective ({objective})? Share of good requests over the shortest "
        f"window ({short}) and over the SLO period ({period}); the dashed line is the "
        "objective. Bad: the line below it.",
        [
            p.target(f"1 - {slo_error_ratio_record(w)}{selector}", f"SLI {w}")
            for w in (short, period)
        ],
        unit=p.units.PERCENT_UNIT,
        thresholds=p.steps((slo.objective, "green"), base="red"),
        decimals=3,
        width=12,
    )
    pairs = []
    for b in config.burn_rate_windows:
        kind = _severity_name(b.severity)
        pairs.append(
            p.timeseries(
                f"Burn rate {b.long} / {b.short} ({kind} at {p.number(b.factor)}x)",
                f"Would the {b.long}/{b.short} {kind} fire? Burn rate over both windows; the "
                f"alert fires when both lines stay above the dashed threshold "
                f"({p.number(b.factor)}x: {p.number(b.factor * slo.error_budget * 100)} % "
                f"errors) for {b.for_}. Bad: both lines above it.",
                [
                    p.target(f"{slo_error_ratio_record(w)}{selector} / {budget}", w)
                    for w in (b.long, b.short)
                ],
                unit=p.units.NONE_FORMAT,
                thresholds=p.steps((b.factor, "red")),
                min_value=0,
                decimals=2,
                width=24 // len(config.burn_rate_windows),
                height=7,
            )
        )
    good, total = _good_and_total(slo, config)
    events = p.timeseries(
        "Good and total events",
        "How many requests count towards the SLO, and how many are good? Events per second on "
        "API routes: total, good (the SLI's numerator) and bad (their difference). Bad: the "
        "bad line rising; a total near 0 means too little traffic for the burn-rate pages "
        "(their minimum request counts).",
        [
            p.target(good, "good"),
            p.target(total, "total"),
            p.target(f"{total} - ({good})", "bad"),
        ],
        unit=p.units.REQUESTS_PER_SEC,
        min_value=0,
        width=24,
        height=7,
    )
    title = f"SLO {slo.name}: {slo.description} ({objective} over {period})"
    return title, [
        remaining,
        exhaustion,
        alerts,
        burn,
        remaining_over_time,
        sli,
        *pairs,
        events,
    ]


def build(config: MonitoringConfig) -> Dashboard:
    """The SLO dashboard for ``config``: one row per SLO."""
    return p.dashboard(
        "slo",
        f"{config.dashboard_folder} / SLO",
        f"Error budget and burn rates of {config.app_name}'s SLOs over {config.slo_period}: "
        + "; ".join(s.description for s in config.slos)
        + ".",
        [_slo_row(slo, config) for slo in config.slos],
        config,
        pod_variable=False,
        time_from="now-7d",
        refresh="1m",
        annotations=[p.deploy_annotation(config)],
        links=[p.silences_link(config)],
    )


dashboard = build(CONFIG)
