"""Demo App / SLO: how much error budget is left, and how fast is it burning?

One row per SLO in ``config.slos``. Every query reads the SLO recording rules
``slo:sli_error:ratio_rate<window>`` (``monitoring.config.slo_error_ratio_record``; labels
``slo``, ``job``, ``namespace``; value: the error ratio 0-1 over the window), so the windows are
fixed by the rules, not by the dashboard's time range. Formulas (Google SRE workbook, chapter
"Alerting on SLOs"):

- error budget = 1 - objective; burn rate = error ratio / error budget (1 = the budget lasts
  exactly the SLO period);
- error budget remaining = 1 - error ratio over the period / error budget (may go negative).

The recording rules aggregate over pods, so this dashboard has no ``pod`` variable.
"""

from __future__ import annotations

from grafanalib.core import Dashboard

from dashboards import panels as p
from monitoring.config import CONFIG, SLO, MonitoringConfig, slo_error_ratio_record

EVEN_SPEND = 1.0
"""Burn rate at which the budget lasts exactly the SLO period (by definition)."""


def _burn_thresholds(config: MonitoringConfig) -> dict[str, list[dict]]:
    """Per window: orange from an even spend, red from the lowest burn-rate alert factor using
    that window (an alert fires when both its long and its short window exceed the factor)."""
    result = {}
    for window in config.slo_windows():
        factors = [b.factor for b in config.burn_rate_windows if window in (b.long, b.short)]
        factor = min(factors, default=EVEN_SPEND)
        if factor > EVEN_SPEND:
            result[window] = p.steps((EVEN_SPEND, "orange"), (factor, "red"))
        else:
            result[window] = p.steps((factor, "red"))
    return result


def _slo_row(slo: SLO, config: MonitoringConfig) -> p.Row:
    selector = p.namespace_selector(f'slo="{slo.name}"', job=config.job)
    budget = p.number(slo.error_budget)
    period = config.slo_period
    objective = f"{p.number(slo.objective * 100)} %"
    remaining_expr = f"1 - ({slo_error_ratio_record(period)}{selector} / {budget})"

    remaining = p.stat(
        f"Error budget remaining ({period})",
        f"How much of the {period} error budget ({p.number(slo.error_budget * 100)} % of "
        f"requests) is left? 1 - error ratio over {period} / error budget. Red once the budget "
        "is spent (below 0 %).",
        [p.target(remaining_expr, "remaining")],
        unit=p.units.PERCENT_UNIT,
        thresholds=p.steps((0.0, "green"), base="red"),
        decimals=1,
        height=8,
    )
    remaining_over_time = p.timeseries(
        f"Error budget remaining over time ({period} window)",
        f"Is the budget trending towards zero? The remaining {period} error budget at each "
        "point in time; a falling line means errors are spending it.",
        [p.target(remaining_expr, "remaining")],
        unit=p.units.PERCENT_UNIT,
        thresholds=p.steps((0.0, "green"), base="red"),
        width=18,
    )
    burn = p.bar_gauge(
        "Burn rate per window",
        "How fast is the budget burning over each alert window? Error ratio / error budget "
        f"(1 = the budget lasts exactly {period}). Orange above 1; red from the lowest "
        "burn-rate alert factor that uses the window (the alert fires when its long and its "
        "short window both exceed it).",
        [
            # instant: a bar shows the latest value only, no need to fetch a range
            p.target(f"{slo_error_ratio_record(w)}{selector} / {budget}", w, instant=True)
            for w in config.slo_windows()
        ],
        unit=p.units.NONE_FORMAT,
        thresholds=p.steps((EVEN_SPEND, "red")),
        overrides=p.overrides_thresholds(_burn_thresholds(config)),
        decimals=2,
        width=10,
    )
    short = config.slo_windows()[0]
    sli = p.timeseries(
        "SLI over time",
        f"Are we meeting the objective ({objective})? Share of good requests over the shortest "
        f"window ({short}) and over the SLO period ({period}); the dashed line is the objective.",
        [
            p.target(f"1 - {slo_error_ratio_record(w)}{selector}", f"SLI {w}")
            for w in (short, period)
        ],
        unit=p.units.PERCENT_UNIT,
        thresholds=p.steps((slo.objective, "green"), base="red"),
        decimals=3,
        width=14,
    )
    return f"SLO {slo.name}: {slo.description}", [remaining, remaining_over_time, burn, sli]


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
    )


dashboard = build(CONFIG)
