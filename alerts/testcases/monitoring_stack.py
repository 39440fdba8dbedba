"""promtool tests of the monitoring stack's replica-down alerts (alerts/monitoring_stack.py).

Series are ``up`` as kube-prometheus-stack's ServiceMonitors label the Prometheus and
Alertmanager pods (job = the Service, the operator's StatefulSet pod names). Each case pins one
clause: a failing target (``== 1``), a vanished target (``count``), the threshold (``<``, not
``<=``), the job and namespace matchers, and ``for:``.
"""

from __future__ import annotations

from alerts.testcases import (
    TestFile,
    alert_check,
    constant,
    expected_alert,
    minutes,
    runbook,
    series,
)
from monitoring.config import MonitoringConfig


def _up(config: MonitoringConfig, job: str, statefulset: str, index: int, namespace: str) -> str:
    return series(
        "up",
        {
            "job": job,
            "namespace": namespace,
            "service": job,
            "pod": f"{statefulset}-{index}",
            "instance": f"10.0.{index}.20:9090",
            "container": "prometheus" if "prometheus" in statefulset else "alertmanager",
        },
    )


def _cases(
    config: MonitoringConfig,
    name: str,
    component: str,
    job: str,
    statefulset: str,
    replicas: int,
) -> list[dict]:
    wait = minutes(config.replica_down_for)
    steps = 2 * wait
    ns = config.monitoring_namespace

    def up(index: int, value: float, namespace: str = ns, of_job: str = job) -> dict:
        return {
            "series": _up(config, of_job, statefulset, index, namespace),
            "values": constant(value, steps),
        }

    firing = [
        expected_alert(
            {"job": job, "namespace": ns, "severity": "warning", "statefulset": statefulset},
            f"{component}: {replicas - 1} of {replicas} replicas up",
            f"Only {replicas - 1} of the {replicas} {component} replicas (job {job}, namespace "
            f"{ns}) have answered their scrape for more than {config.replica_down_for}. The "
            "others still work, but the stack is one failure away from losing it.",
            runbook(config, name),
        )
    ]
    fires_at_for = [alert_check(wait - 1, name, []), alert_check(wait, name, firing)]
    healthy = [up(i, 1) for i in range(replicas)]
    return [
        {
            "name": f"{name}: one replica fails its scrape (up == 0)",
            "interval": "1m",
            "input_series": [up(0, 0), *healthy[1:]],
            "alert_rule_test": fires_at_for,
        },
        {
            "name": f"{name}: one replica is gone (no target: evicted, Pending)",
            "interval": "1m",
            "input_series": healthy[1:],
            "alert_rule_test": fires_at_for,
        },
        {
            "name": f"{name}: every replica up",
            "interval": "1m",
            "input_series": healthy,
            "alert_rule_test": [alert_check(steps, name, [])],
        },
        {
            # The same job elsewhere, and another job here, with fewer replicas: not ours.
            "name": f"{name}: another namespace or job with fewer replicas up",
            "interval": "1m",
            "input_series": [
                *healthy,
                up(0, 1, namespace="other"),
                up(0, 1, of_job="some-other-job"),
            ],
            "alert_rule_test": [alert_check(steps, name, [])],
        },
    ]


def build(config: MonitoringConfig) -> list[TestFile]:
    """The monitoring stack's test file."""
    tests = _cases(
        config,
        "PrometheusReplicaDown",
        "Prometheus",
        config.prometheus_job,
        config.prometheus_statefulset,
        config.prometheus_replicas,
    ) + _cases(
        config,
        "AlertmanagerReplicaDown",
        "Alertmanager",
        config.alertmanager_job,
        config.alertmanager_statefulset,
        config.alertmanager_replicas,
    )
    return [TestFile("monitoring_stack", tests)]
