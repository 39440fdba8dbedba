"""Demo App / Overview: is it broken, since when, where, and why? Incident-first.

grafanalib's contract: this module defines ``dashboard`` (``build(CONFIG)``);
``dashboards.generate`` calls ``build(config)`` with the config it generates for (the local
stack's variant has no HPA panels).

Top to bottom (docs/incident.md walks it): a status row on the first screen (SLO budget and burn
rate, firing alerts with runbook and silence links, scrape health, ready vs desired pods), then
RED per route, then availability details, saturation and autoscaling. Each panel's description
states the question it answers and what "bad" looks like; docs/dashboards.md lists them.
"""

from __future__ import annotations

from grafanalib.core import Dashboard, Stat, Table

from alerts.common import runbook_url
from alerts.generate import build_rule_groups
from app import metric_names as m
from dashboards import panels as p
from monitoring import kubernetes_series as k8s
from monitoring.config import CONFIG, MonitoringConfig, slo_error_ratio_record

RATE = "$__rate_interval"
QUANTILES = (0.5, 0.95, 0.99)
STATUS_HEIGHT = 7
"""Height of the status tiles: row header (1) + 7 = 240 px, on the first screen."""


# --- status row: is it broken? -------------------------------------------------------------------
def _slo_status(config: MonitoringConfig) -> list:
    period = config.slo_period
    page = next(b for b in config.burn_rate_windows if b.severity == "critical")
    budget_targets, burn_targets = [], []
    for slo in config.slos:
        selector = p.namespace_selector(f'slo="{slo.name}"', job=config.job)
        budget = p.number(slo.error_budget)
        budget_targets.append(
            p.target(f"1 - ({slo_error_ratio_record(period)}{selector} / {budget})", slo.name)
        )
        burn_targets.append(
            p.target(f"{slo_error_ratio_record(page.long)}{selector} / {budget}", slo.name)
        )
    remaining = p.stat(
        f"Error budget left ({period})",
        f"How much of each SLO's {period} error budget is left? 1 - error ratio over {period} "
        f"/ error budget, per SLO. Bad: orange below {p.number(p.BUDGET_LOW * 100)} %, red once "
        "spent (below 0). Details: the SLO dashboard.",
        budget_targets,
        unit=p.units.PERCENT_UNIT,
        thresholds=p.budget_steps(),
        decimals=1,
        width=4,
        height=STATUS_HEIGHT,
        graph=False,
    )
    burn = p.stat(
        f"Burn rate ({page.long})",
        f"How fast is each SLO's budget burning right now? Error ratio over {page.long} / "
        f"error budget (1 = the budget lasts exactly {period}). Bad: orange above 1, red from "
        f"{p.number(page.factor)}, the fastest page's factor (it pages when the {page.short} "
        "window agrees).",
        burn_targets,
        unit=p.units.NONE_FORMAT,
        thresholds=p.burn_rate_steps(config, page.long),
        decimals=2,
        width=4,
        height=STATUS_HEIGHT,
        graph=False,
    )
    return [remaining, burn]


def alert_names(config: MonitoringConfig) -> list[str]:
    """Every alert name the rules generated from ``config`` define, once each, in rule order
    (a burn-rate alert has one rule per window pair)."""
    names = [r["alert"] for g in build_rule_groups(config) for r in g["rules"] if "alert" in r]
    return list(dict.fromkeys(names))


def _with_runbooks(expr: str, config: MonitoringConfig) -> str:
    """``expr`` (ALERTS series) with a ``runbook`` label holding each alert's runbook URL.

    ALERTS carries an alert's labels, not its annotations, and a Grafana link cannot lowercase
    the alert name into the runbook anchor; so the URL is attached in PromQL: one
    ``label_replace`` per alert the rules define (it sets the label only where ``alertname``
    matches the whole name).
    """
    for name in alert_names(config):
        url = runbook_url(config, name)
        expr = f'label_replace({expr}, "runbook", "{url}", "alertname", "{name}")'
    return expr


def _firing_alerts(config: MonitoringConfig) -> Table:
    firing = k8s.ALERTS + p.namespace_selector('alertstate="firing"')
    silence = p.silence_url(
        config, 'alertname="${__data.fields.alertname}"', f'namespace="${p.NAMESPACE_VARIABLE}"'
    )
    return p.table(
        "Firing alerts",
        "Which of this app's alerts fire right now, and what to do? Prometheus' ALERTS series "
        "for the namespace, one row per alert: click the alert name to silence it in "
        "Alertmanager, the runbook to open its section of docs/runbooks.md. Bad: any row; a "
        "critical one is a page (empty is good).",
        [p.target(_with_runbooks(firing, config), instant=True, table=True)],
        unit=p.units.NONE_FORMAT,
        hidden_columns=("Time", "Value", "__name__", "alertstate", "job", "namespace"),
        width=8,
        height=STATUS_HEIGHT,
        overrides=[
            p.field_links("alertname", [("Silence in Alertmanager", silence)]),
            p.field_links("runbook", [("Open the runbook", "${__value.raw}")]),
        ],
    )


def _desired(config: MonitoringConfig) -> str:
    deployment = p.namespace_selector(f'{k8s.DEPLOYMENT_LABEL}="{config.deployment_name}"')
    return f"sum({k8s.DEPLOYMENT_SPEC_REPLICAS}{deployment})"


def _scrape_health(config: MonitoringConfig) -> Stat:
    up = p.app_selector(job=config.job)
    return p.stat(
        "Targets up vs expected",
        "Can Prometheus scrape every pod? Targets whose last scrape succeeded (up == 1) / the "
        "Deployment's desired replicas. Bad: red below 100 % - a pod is down, hung or its "
        "/metrics fails; 0 % with pods ready means the scrape config or network, not the app.",
        # `or vector(0)`: with no target left, 0 %, not "no data"
        [p.target(f"(sum({k8s.UP}{up}) or vector(0)) / {_desired(config)}", "up / expected")],
        unit=p.units.PERCENT_UNIT,
        thresholds=p.steps((1.0, "green"), base="red"),
        decimals=0,
        width=4,
        height=STATUS_HEIGHT,
        graph=False,
    )


def _ready_vs_desired(config: MonitoringConfig) -> Stat:
    return p.stat(
        "Ready pods vs desired",
        "Are enough pods serving? Pods whose /readiness answers 200 (the app's "
        f"{m.READY}) against the Deployment's desired replicas (kube-state-metrics). Bad: ready "
        f"red below {config.ha_min_ready}, the minimum for high availability - 0 when no pod "
        "reports at all (a total outage).",
        [
            # `or vector(0)`: a total outage leaves no ready series at all; show 0 (red)
            p.target(f"sum(max by (pod) ({m.READY}{p.app_selector()})) or vector(0)", "ready"),
            p.target(_desired(config), "desired"),
        ],
        unit=p.units.SHORT,
        thresholds=p.steps((config.ha_min_ready, "green"), base="red"),
        decimals=0,
        width=4,
        height=STATUS_HEIGHT,
        graph=False,
        overrides=[p.fixed_color("desired")],
    )


def _status(config: MonitoringConfig) -> p.Row:
    return "Status: is it broken?", [
        *_slo_status(config),
        _firing_alerts(config),
        _scrape_health(config),
        _ready_vs_desired(config),
    ]


def _availability(config: MonitoringConfig) -> p.Row:
    uptime = p.stat(
        "Uptime per pod",
        "How long has each pod's server been running? Seconds since its gunicorn master "
        "started. Bad: a value that drops back to zero is a restart.",
        # instant: only pods that exist now (a range query would keep a tile per deleted pod)
        [p.target(f"max by (pod) ({m.UPTIME}{p.app_selector()})", "{{pod}}", instant=True)],
        unit=p.units.SECONDS,
        width=8,
        height=6,
    )
    restarts_series = k8s.POD_CONTAINER_RESTARTS + p.app_selector()
    restarts = p.timeseries(
        "Container restarts",
        "Are containers crashing or failing their liveness probe? Container restarts per pod "
        "in each bar (kube-state-metrics), each restart counted once. Bad: any bar; several "
        "mean a crash loop (see the restarting alert's runbook).",
        [
            p.target(
                # The counter's growth across exactly one step ($__interval = the query step),
                # so bars tile the time axis and each restart lands in one bar. increase() over
                # $__rate_interval (4+ steps) counted each restart in ~4 bars and extrapolates
                # to non-integers. (A deliberate exception to target-counter-agg-rule.)
                f"sum by (pod) ({restarts_series} - {restarts_series} offset $__interval)",
                "{{pod}}",
            )
        ],
        unit=p.units.SHORT,
        bars=True,
        min_value=0,
        decimals=0,
        width=16,
        height=6,
    )
    return "Availability", [uptime, restarts]


def _traffic(config: MonitoringConfig) -> p.Row:
    api = p.app_selector(config.api_route_matcher)
    api_errors = p.app_selector(config.api_route_matcher, config.server_error_matcher)
    availability = next(s for s in config.slos if s.latency_threshold_seconds is None)
    latency_slo = next(s for s in config.slos if s.latency_threshold_seconds is not None)
    slo_bound = p.number(latency_slo.latency_threshold_seconds)
    p99_warning = p.number(config.latency_p99_warning_seconds)
    budget = float(p.number(availability.error_budget))  # 0.001, not 0.0010000000000000009
    requests = p.timeseries(
        "Requests per second by route and status",
        "How much traffic, where to, and with what outcome? Finished requests per second by "
        "route and HTTP status, probes and /metrics included. Bad: a sudden drop to 0 (nothing "
        "reaches the app) or a new 5xx series.",
        [
            p.target(
                f"sum by (route, status) (rate({m.HTTP_REQUESTS}{p.app_selector()}[{RATE}]))",
                "{{route}} {{status}}",
            )
        ],
        unit=p.units.REQUESTS_PER_SEC,
        min_value=0,
        width=8,
    )
    errors_by_route = p.timeseries(
        "5xx error ratio by route",
        "Which API route fails? 5xx responses / all responses per API route. Dashed: the "
        f"availability SLO's error budget ({p.number(budget * 100)} %: above it the budget burns "
        f"faster than it refills) and the warning alert's threshold "
        f"({p.number(config.error_ratio_warning * 100)} %). Bad: one route above the budget line.",
        [
            p.target(
                # `or ... * 0`: a route without 5xx series has a ratio of 0, not "no data"
                f"(sum by (route) (rate({m.HTTP_REQUESTS}{api_errors}[{RATE}]))"
                f" or sum by (route) (rate({m.HTTP_REQUESTS}{api}[{RATE}])) * 0)"
                f" / sum by (route) (rate({m.HTTP_REQUESTS}{api}[{RATE}]))",
                "{{route}}",
            )
        ],
        unit=p.units.PERCENT_UNIT,
        thresholds=p.steps((budget, "orange"), (config.error_ratio_warning, "red")),
        min_value=0,
        width=8,
    )
    buckets = f"{m.HTTP_REQUEST_DURATION}_bucket{api}"
    p99_by_route = p.timeseries(
        "Latency p99 by route",
        "Which API route is slow? The 99th percentile per route from the request-duration "
        f"histogram. Dashed: the latency SLO's bound ({slo_bound} s; the SLO allows "
        f"{p.number(latency_slo.error_budget * 100)} % of requests above it) and the p99 warning "
        f"alert's threshold ({p99_warning} s). Bad: one route above the bound while the others "
        "are not (that route's code or dependency).",
        [
            p.target(
                f"histogram_quantile(0.99, sum by (route, le) (rate({buckets}[{RATE}])))",
                "{{route}}",
            )
        ],
        unit=p.units.SECONDS,
        thresholds=p.steps(
            (latency_slo.latency_threshold_seconds, "orange"),
            (config.latency_p99_warning_seconds, "red"),
        ),
        min_value=0,
        width=8,
    )
    errors = p.timeseries(
        "5xx error ratio (API routes)",
        "What share of API requests fail on the server side? 5xx responses / all responses "
        "on API routes (probes and /metrics excluded). The dashed line is the warning alert's "
        f"threshold ({p.number(config.error_ratio_warning * 100)} %). Bad: above the line.",
        [
            p.target(
                # `or vector(0)`: no 5xx series yet is a ratio of 0, not "no data"
                f"(sum(rate({m.HTTP_REQUESTS}{api_errors}[{RATE}])) or vector(0))"
                f" / sum(rate({m.HTTP_REQUESTS}{api}[{RATE}]))",
                "5xx ratio",
            )
        ],
        unit=p.units.PERCENT_UNIT,
        thresholds=p.steps((config.error_ratio_warning, "red")),
        min_value=0,
        width=12,
    )
    latency = p.timeseries(
        "Latency p50 / p95 / p99 (API routes)",
        "How long do API requests take? Quantiles estimated from the request-duration "
        f"histogram. Dashed lines: the latency SLO's bound ({slo_bound} s) and the p99 "
        f"warning alert's threshold ({p99_warning} s). Bad: p99 above the SLO bound for long.",
        [
            p.target(
                f"histogram_quantile({q}, sum by (le) (rate({buckets}[{RATE}])))",
                f"p{p.number(q * 100)}",
            )
            for q in QUANTILES
        ],
        unit=p.units.SECONDS,
        thresholds=p.steps(
            (latency_slo.latency_threshold_seconds, "orange"),
            (config.latency_p99_warning_seconds, "red"),
        ),
        min_value=0,
        width=12,
    )
    return "Requests, errors and latency (RED) by route", [
        requests,
        errors_by_route,
        p99_by_route,
        errors,
        latency,
    ]


def _resources(config: MonitoringConfig) -> p.Row:
    cpu_limit = p.timeseries(
        "CPU per pod (% of limit)",
        "Is any pod near its CPU limit, where the kernel throttles it? CPU used as a percentage "
        f"of the container's limit (without one, e.g. locally: of the CPUs the process may run "
        f"on), as the app reports it. Dashed: the warning alert's "
        f"threshold ({p.number(config.cpu_warning_percent)} %)."
        " Bad: near or above the line for minutes.",
        [p.target(f"max by (pod) ({m.CPU_USAGE_PERCENT}{p.app_selector()})", "{{pod}}")],
        unit=p.units.PERCENT_FORMAT,
        thresholds=p.steps((config.cpu_warning_percent, "red")),
        min_value=0,
        width=8,
    )
    throttled = p.timeseries(
        "CPU throttling per pod",
        "Is the CPU limit slowing requests down? Share of CFS scheduling periods in which the "
        "container hit its CPU quota and was paused (the app's cgroup counters); a steady "
        "share means latency suffers - raise the limit or scale out. Empty without a CPU limit. "
        "Bad: a steady share above a few percent.",
        [
            p.target(
                # `> 0`: without a CPU quota no period elapses; no data rather than 0/0 = NaN
                f"sum by (pod) (rate({m.CPU_THROTTLED_PERIODS}{p.app_selector()}[{RATE}]))"
                f" / (sum by (pod) (rate({m.CPU_PERIODS}{p.app_selector()}[{RATE}])) > 0)",
                "{{pod}}",
            )
        ],
        unit=p.units.PERCENT_UNIT,
        min_value=0,
        width=8,
    )
    memory_limit = p.timeseries(
        "Memory per pod (% of limit)",
        "Is any pod near its memory limit, where it gets OOM-killed? Working set as a "
        "percentage of the container's limit, as the app reports it. Dashed: the warning "
        f"alert's threshold ({p.number(config.memory_warning_percent)} %). Bad: a line climbing "
        "towards 100 % (OOM kill next).",
        [p.target(f"max by (pod) ({m.MEMORY_USAGE_PERCENT}{p.app_selector()})", "{{pod}}")],
        unit=p.units.PERCENT_FORMAT,
        thresholds=p.steps((config.memory_warning_percent, "red")),
        min_value=0,
        width=8,
    )
    panels = [cpu_limit, throttled, memory_limit]
    if config.hpa_enabled:
        containers = p.app_selector(k8s.CADVISOR_CONTAINERS)
        requests = k8s.POD_CONTAINER_RESOURCE_REQUESTS
        cpu_requests = requests + p.app_selector('resource="cpu"')
        memory_requests = requests + p.app_selector('resource="memory"')
        cpu_request = p.timeseries(
            "CPU per pod (% of request, HPA target)",
            "Will the HPA scale out on CPU? It compares usage with the containers' CPU "
            "*requests*, not their limits: cAdvisor usage / kube-state-metrics requests per "
            f"pod. Dashed: the HPA's target ({config.hpa_cpu_target_percent} %), averaged "
            "over pods. Bad: above the line with the HPA at its maximum.",
            [
                p.target(
                    f"100 * sum by (pod) (rate({k8s.CONTAINER_CPU_USAGE}{containers}[{RATE}]))"
                    f" / sum by (pod) ({cpu_requests})",
                    "{{pod}}",
                )
            ],
            unit=p.units.PERCENT_FORMAT,
            thresholds=p.steps((config.hpa_cpu_target_percent, "orange")),
            min_value=0,
        )
        memory_request = p.timeseries(
            "Memory per pod (% of request, HPA target)",
            "Will the HPA scale out on memory? Working set (cAdvisor) / the containers' memory "
            "requests (kube-state-metrics) per pod. Dashed: the HPA's target "
            f"({config.hpa_memory_target_percent} %), averaged over pods. Bad: above the line "
            "with the HPA at its maximum.",
            [
                p.target(
                    f"100 * sum by (pod) ({k8s.CONTAINER_MEMORY_WORKING_SET}{containers})"
                    f" / sum by (pod) ({memory_requests})",
                    "{{pod}}",
                )
            ],
            unit=p.units.PERCENT_FORMAT,
            thresholds=p.steps((config.hpa_memory_target_percent, "orange")),
            min_value=0,
        )
        panels += [cpu_request, memory_request]
    return "CPU and memory", panels


def _autoscaling(config: MonitoringConfig) -> p.Row:
    hpa = p.namespace_selector(f'{k8s.HPA_LABEL}="{config.hpa_name}"')
    series = (
        (k8s.HPA_CURRENT_REPLICAS, "current"),
        (k8s.HPA_DESIRED_REPLICAS, "desired"),
        (k8s.HPA_MIN_REPLICAS, "min"),
        (k8s.HPA_MAX_REPLICAS, "max"),
    )
    replicas = p.timeseries(
        "HPA replicas: current, desired, min, max",
        "Is the autoscaler keeping up, or pinned at its bounds? Replicas as the HPA sees them "
        "(kube-state-metrics). Current at max for long means the HPA cannot add capacity; "
        f"red from {config.hpa_max_replicas}, the configured maximum. Bad: current at max.",
        [p.target(f"max({name}{hpa})", legend) for name, legend in series],
        unit=p.units.SHORT,
        thresholds=p.steps((config.hpa_max_replicas, "red")),
        min_value=0,
        decimals=0,
        width=24,
    )
    return "Autoscaling", [replicas]


def build(config: MonitoringConfig) -> Dashboard:
    """The overview dashboard for ``config``; the HPA panels only when ``config.hpa_enabled``."""
    rows = [_status(config), _traffic(config), _availability(config), _resources(config)]
    if config.hpa_enabled:
        rows.append(_autoscaling(config))
    return p.dashboard(
        "overview",
        f"{config.dashboard_folder} / Overview",
        f"Is {config.app_name} broken? SLO status, firing alerts, scrape health and ready pods "
        "first; then requests, errors and latency per route, restarts, resources and "
        "autoscaling. Purple regions: deploys.",
        rows,
        config,
        time_from="now-3h",
        refresh="30s",
        annotations=[p.deploy_annotation(config)],
        links=[p.silences_link(config)],
    )


dashboard = build(CONFIG)
