"""promtool tests of the HPA saturation alert (series as kube-state-metrics 2.x exports them)."""

from __future__ import annotations

from alerts.common import alert_prefix
from alerts.testcases import (
    TestFile,
    alert_check,
    constant,
    expected_alert,
    humanize_percentage,
    minutes,
    runbook,
    series,
)
from monitoring import kubernetes_series as ks
from monitoring.config import MonitoringConfig


def _hpa_series(
    config: MonitoringConfig,
    replicas: int,
    cpu_percent: float,
    memory_percent: float,
    steps: int,
    job: str | None = None,
    max_replicas: int | None = None,
    cpu_target: float | None = None,
    memory_target: float | None = None,
) -> list[dict]:
    """The HPA's kube-state-metrics series: replicas, max, and CPU/memory status vs target
    (``job``, ``max_replicas``, ``cpu_target``: another scrape job's differing view;
    ``memory_target``: default ``config.hpa_memory_target_percent``)."""
    hpa = {
        "job": job or config.kube_state_metrics_job,
        "namespace": config.namespace,
        "horizontalpodautoscaler": config.hpa_name,
        "instance": "10.0.1.5:8080",
    }
    cpu = {**hpa, "metric_name": "cpu", "metric_target_type": "utilization"}
    memory = {**hpa, "metric_name": "memory", "metric_target_type": "utilization"}
    return [
        {"series": series(ks.HPA_CURRENT_REPLICAS, hpa), "values": constant(replicas, steps)},
        {
            "series": series(ks.HPA_MAX_REPLICAS, hpa),
            "values": constant(max_replicas or config.hpa_max_replicas, steps),
        },
        {
            "series": series(ks.HPA_SPEC_TARGET_METRIC, cpu),
            "values": constant(cpu_target or config.hpa_cpu_target_percent, steps),
        },
        {
            "series": series(ks.HPA_STATUS_TARGET_METRIC, cpu),
            "values": constant(cpu_percent, steps),
        },
        {
            "series": series(ks.HPA_SPEC_TARGET_METRIC, memory),
            "values": constant(memory_target or config.hpa_memory_target_percent, steps),
        },
        {
            "series": series(ks.HPA_STATUS_TARGET_METRIC, memory),
            "values": constant(memory_percent, steps),
        },
    ]


def build(config: MonitoringConfig) -> list[TestFile]:
    """The HPA test file (empty without an HPA)."""
    if not config.hpa_enabled:
        return []
    name = f"{alert_prefix(config)}HpaSaturated"
    wait = minutes(config.hpa_saturated_for)
    steps = 2 * wait
    target = config.hpa_cpu_target_percent
    over = target * 1.5  # utilization may exceed 100 %: it is relative to the requests
    at_max = config.hpa_max_replicas
    memory_ok = config.hpa_memory_target_percent / 2

    def firing(cpu_percent: float) -> list[dict]:
        return [
            expected_alert(
                {
                    "namespace": config.namespace,
                    "horizontalpodautoscaler": config.hpa_name,
                    "severity": "warning",
                },
                f"HPA {config.hpa_name} is saturated",
                f"HPA {config.hpa_name} in namespace {config.namespace} has run at its maximum "
                f"replicas for more than {config.hpa_saturated_for} while the average CPU use of "
                f"its pods is still {humanize_percentage(cpu_percent / 100)} of their requests, "
                "above its target: it cannot add capacity.",
                runbook(config, name),
            )
        ]

    # CPU just over its target and under memory's (higher) target: CPU must be compared with
    # CPU's target alone (a spec side without its metric_name matcher reads memory's target).
    just_over = target + 5
    memory_target = max(config.hpa_memory_target_percent, just_over + 10)
    return [
        TestFile(
            "hpa",
            [
                {
                    "name": f"{name}: at max replicas with CPU over target",
                    "interval": "1m",
                    # Another scrape job's view (higher max, far higher target) must not count.
                    "input_series": _hpa_series(config, at_max, over, memory_ok, steps)
                    + _hpa_series(config, 1, 1, memory_ok, steps, "other", at_max + 5, 1000),
                    "alert_rule_test": [
                        alert_check(wait - 1, name, []),
                        alert_check(wait, name, firing(over)),
                    ],
                },
                {
                    "name": f"{name}: at max replicas, CPU just over its target, memory's higher",
                    "interval": "1m",
                    "input_series": _hpa_series(
                        config, at_max, just_over, memory_ok, steps, memory_target=memory_target
                    ),
                    "alert_rule_test": [alert_check(wait, name, firing(just_over))],
                },
                {
                    # KubeHpaMaxedOut's case: at max with headroom. Memory over its own target
                    # must not count: the alert is about CPU.
                    "name": f"{name}: at max replicas, CPU exactly at target, memory over",
                    "interval": "1m",
                    "input_series": _hpa_series(
                        config, at_max, target, config.hpa_memory_target_percent * 1.5, steps
                    )
                    # Another scrape job's CPU far over target must not count.
                    + _hpa_series(config, at_max, 2 * over, memory_ok, steps, "other"),
                    "alert_rule_test": [alert_check(steps, name, [])],
                },
                {
                    "name": f"{name}: CPU over target, one replica below max",
                    "interval": "1m",
                    # Another scrape job's view at max must not count (kills a dropped matcher
                    # on the current replicas).
                    "input_series": _hpa_series(config, at_max - 1, over, memory_ok, steps)
                    + _hpa_series(config, at_max, over, memory_ok, steps, "other"),
                    "alert_rule_test": [alert_check(steps, name, [])],
                },
            ],
        )
    ]
