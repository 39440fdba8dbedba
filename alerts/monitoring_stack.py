"""Watching the watchers: a Prometheus or Alertmanager replica down (Kubernetes HA, issue 17).

kube-prometheus-stack's own rules (``../shared/schemas/kube-prometheus-stack-88.5.3/
default-alerts.yaml``) already cover most of the stack, and are reused, not doubled:

- ``AlertmanagerClusterDown`` (critical: page): half or more of the Alertmanagers down;
- ``AlertmanagerClusterFailedPeers`` (warning: ticket): a mesh member has failed peers - the mesh
  lost a peer;
- ``AlertmanagerMembersInconsistent``: a member has not found all the others (critical in the
  chart; ``customRules`` in ``monitoring/values.yaml`` makes it a warning: ticket);
- ``Watchdog``: with both Prometheus replicas down the heartbeat stops (dead man's switch).

What they miss is the HA count itself. ``TargetDown`` sees a replica whose pod exists but fails
its scrape, and only while its target exists: a replica that is gone (evicted, Pending because
its zone and its zonal volume are gone) has no target, so no ``up`` series to count.
``KubeStatefulSetReplicasMismatch`` sees it after 15 minutes, through kube-state-metrics, as a
generic StatefulSet problem. The alerts here count the replicas that answer their scrape against
the HA design (``config.prometheus_replicas``, ``config.alertmanager_replicas``), whatever the
cause. Each carries its ``statefulset`` and ``job`` labels so that the routing
(``alerts/alertmanager.py``) inhibits the chart's TargetDown and KubeStatefulSetReplicasMismatch
for the same replicas while it fires: one failure, one ticket. Tickets, not pages: the remaining
replicas keep alerting; ``AlertmanagerClusterDown`` and the Watchdog page when they cannot.

Every Prometheus replica scrapes every Prometheus and Alertmanager pod, so the surviving
replica evaluates these rules about the dead one.
"""

from __future__ import annotations

from alerts.common import alert, group
from monitoring import kubernetes_series
from monitoring.config import MonitoringConfig

SERVICE_LABELS = "namespace, job"


def replica_down(
    config: MonitoringConfig, name: str, component: str, job: str, statefulset: str, replicas: int
) -> dict:
    """A warning when fewer than ``replicas`` targets of ``job`` answer their scrape.

    ``count(up == 1)`` counts answering replicas: a failing target (``up == 0``) and a missing
    one (no ``up`` series at all) both lower it.
    """
    up = kubernetes_series.UP
    selector = f'job="{job}", namespace="{config.monitoring_namespace}"'
    return alert(
        name,
        expr=f"""
            count by ({SERVICE_LABELS}) ({up}{{{selector}}} == 1) < {replicas}
        """,
        for_=config.replica_down_for,
        severity="warning",
        labels={"statefulset": statefulset},
        summary=f"{component}: {{{{ $value }}}} of {replicas} replicas up",
        description=(
            f"Only {{{{ $value }}}} of the {replicas} {component} replicas (job "
            "{{ $labels.job }}, namespace {{ $labels.namespace }}) have answered their scrape "
            f"for more than {config.replica_down_for}. The others still work, but the stack is "
            "one failure away from losing it."
        ),
    )


def rules(config: MonitoringConfig) -> list[dict]:
    """The replica-down alerts of the Prometheus pair and the Alertmanager mesh."""
    return [
        replica_down(
            config,
            "PrometheusReplicaDown",
            "Prometheus",
            config.prometheus_job,
            config.prometheus_statefulset,
            config.prometheus_replicas,
        ),
        replica_down(
            config,
            "AlertmanagerReplicaDown",
            "Alertmanager",
            config.alertmanager_job,
            config.alertmanager_statefulset,
            config.alertmanager_replicas,
        ),
    ]


REPLICA_ALERTS = ("PrometheusReplicaDown", "AlertmanagerReplicaDown")
"""The alert names ``rules`` defines (the routing's inhibitions name them)."""


def groups(config: MonitoringConfig) -> list[dict]:
    """The area's rule groups."""
    return [group(config, "monitoring-stack", rules(config))]
