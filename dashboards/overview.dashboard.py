"""Demo App / Overview: is the service up, busy, failing, slow, or short of resources?

grafanalib's contract: this module defines ``dashboard`` (``build(CONFIG)``);
``dashboards.generate`` calls ``build(config)`` with the config it generates for (the local
stack's variant has no HPA panels).
Each panel's description states the question it answers; docs/dashboards.md lists them.
"""

from __future__ import annotations

from grafanalib.core import Dashboard

from app import metric_names as m
from dashboards import panels as p
from monitoring import kubernetes_series as k8s
from monitoring.config import CONFIG, MonitoringConfig

RATE = "$__rate_interval"
QUANTILES = (0.5, 0.95, 0.99)


def _availability(config: MonitoringConfig) -> p.Row:
    deployment = p.namespace_selector(f'{k8s.DEPLOYMENT_LABEL}="{config.deployment_name}"')
    ready = p.stat(
        "Ready pods vs desired",
        "Are enough pods serving? Pods whose /readiness answers 200 (the app's "
        f"{m.READY}) against the Deployment's desired replicas (kube-state-metrics). Red below "
        f"{config.ha_min_ready}, the minimum for high availability.",
        [
            p.target(f"sum(max by (pod) ({m.READY}{p.app_selector()}))", "ready"),
            p.target(f"sum({k8s.DEPLOYMENT_SPEC_REPLICAS}{deployment})", "desired"),
        ],
        unit=p.units.SHORT,
        thresholds=p.steps((config.ha_min_ready, "green"), base="red"),
        decimals=0,
        width=8,
    )
    uptime = p.stat(
        "Uptime per pod",
        "How long has each pod's server been running? Seconds since its gunicorn master "
        "started; a value that drops back to zero is a restart.",
        # instant: only pods that exist now (a range query would keep a tile per deleted pod)
        [p.target(f"max by (pod) ({m.UPTIME}{p.app_selector()})", "{{pod}}", instant=True)],
        unit=p.units.SECONDS,
        width=8,
    )
    restarts = p.timeseries(
        "Container restarts",
        "Are containers crashing or failing their liveness probe? Restarts per pod in each "
        "interval (kube-state-metrics).",
        [
            p.target(
                f"sum by (pod) (increase({k8s.POD_CONTAINER_RESTARTS}{p.app_selector()}[{RATE}]))",
                "{{pod}}",
            )
        ],
        unit=p.units.SHORT,
        bars=True,
        min_value=0,
        width=8,
        height=6,
    )
    return "Availability", [ready, uptime, restarts]


def _traffic(config: MonitoringConfig) -> p.Row:
    api = p.app_selector(config.api_route_matcher)
    api_errors = p.app_selector(config.api_route_matcher, config.server_error_matcher)
    requests = p.timeseries(
        "Requests per second by route and status",
        "How much traffic, where to, and with what outcome? Finished requests per second by "
        "route and HTTP status, probes and /metrics included.",
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
    errors = p.timeseries(
        "5xx error ratio (API routes)",
        "What share of API requests fail on the server side? 5xx responses / all responses "
        "on API routes (probes and /metrics excluded). The dashed line is the warning alert's "
        f"threshold ({p.number(config.error_ratio_warning * 100)} %).",
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
        width=8,
    )
    latency_slo = next(s for s in config.slos if s.latency_threshold_seconds is not None)
    slo_bound = p.number(latency_slo.latency_threshold_seconds)
    p99_warning = p.number(config.latency_p99_warning_seconds)
    buckets = f"{m.HTTP_REQUEST_DURATION}_bucket{api}"
    latency = p.timeseries(
        "Latency p50 / p95 / p99 (API routes)",
        "How long do API requests take? Quantiles estimated from the request-duration "
        f"histogram. Dashed lines: the latency SLO's bound ({slo_bound} s) and the p99 "
        f"warning alert's threshold ({p99_warning} s).",
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
        width=8,
    )
    return "Traffic, errors and latency", [requests, errors, latency]


def _resources(config: MonitoringConfig) -> p.Row:
    cpu_limit = p.timeseries(
        "CPU per pod (% of limit)",
        "Is any pod near its CPU limit, where the kernel throttles it? CPU used as a percentage "
        f"of the container's limit (without one, e.g. locally: of the CPUs the process may run "
        f"on), as the app reports it. Dashed: the warning alert's "
        f"threshold ({p.number(config.cpu_warning_percent)} %).",
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
        "share means latency suffers - raise the limit or scale out. Empty without a CPU limit.",
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
        f"alert's threshold ({p.number(config.memory_warning_percent)} %).",
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
            "over pods.",
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
            f"({config.hpa_memory_target_percent} %), averaged over pods.",
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
        f"red from {config.hpa_max_replicas}, the configured maximum.",
        [p.target(f"max({name}{hpa})", legend) for name, legend in series],
        unit=p.units.SHORT,
        thresholds=p.steps((config.hpa_max_replicas, "red")),
        min_value=0,
        decimals=0,
        width=24,
    )
    return "Autoscaling", [replicas]


def _alerts(config: MonitoringConfig) -> p.Row:
    firing = p.table(
        "Firing alerts",
        "Which of this app's alerts fire right now? Prometheus' ALERTS series for the "
        "namespace, one row per alert with its labels; empty is good.",
        [
            p.target(
                k8s.ALERTS + p.namespace_selector('alertstate="firing"'),
                instant=True,
                table=True,
            )
        ],
        unit=p.units.NONE_FORMAT,
        height=6,
    )
    return "Alerts", [firing]


def build(config: MonitoringConfig) -> Dashboard:
    """The overview dashboard for ``config``; the HPA panels only when ``config.hpa_enabled``."""
    rows = [_availability(config), _traffic(config), _resources(config)]
    if config.hpa_enabled:
        rows.append(_autoscaling(config))
    rows.append(_alerts(config))
    return p.dashboard(
        "overview",
        f"{config.dashboard_folder} / Overview",
        "Availability, traffic, errors, latency, resources and autoscaling of "
        f"{config.app_name}, and its firing alerts.",
        rows,
        config,
        time_from="now-3h",
        refresh="30s",
    )


dashboard = build(CONFIG)
