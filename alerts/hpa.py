"""The HPA saturation alert (Kubernetes only: kube-state-metrics series).

kube-prometheus-stack's KubeHpaMaxedOut fires whenever an HPA sits at its maximum, even when it
is there with load to spare. This alert fires only when the HPA is at its maximum AND the
average CPU utilisation it sees is still above its target, i.e. it wants to scale out and
cannot: capacity is exhausted. The target is read from the HPA itself
(``kube_horizontalpodautoscaler_spec_target_metric``), so a changed manifest needs no rule edit.
"""

from __future__ import annotations

from alerts.common import alert, alert_prefix, group
from monitoring import kubernetes_series as ks
from monitoring.config import MonitoringConfig

HPA_LABELS = "namespace, horizontalpodautoscaler"
CPU_METRIC = 'metric_name="cpu", metric_target_type="utilization"'
"""kube-state-metrics labels of a Resource CPU target; utilization in percent of requests."""


def rules(config: MonitoringConfig) -> list[dict]:
    """The HPA alert, or no rule when ``config.hpa_enabled`` is false (the local stack)."""
    if not config.hpa_enabled:
        return []
    hpa = (
        f'job="{config.kube_state_metrics_job}", namespace="{config.namespace}", '
        f'horizontalpodautoscaler="{config.hpa_name}"'
    )
    # max by () collapses duplicates (e.g. two kube-state-metrics replicas) and the scrape
    # labels, so both sides of each comparison match one-to-one on the HPA's identity.
    return [
        alert(
            f"{alert_prefix(config)}HpaSaturated",
            expr=f"""
                (
                  max by ({HPA_LABELS}) ({ks.HPA_STATUS_TARGET_METRIC}{{{hpa}, {CPU_METRIC}}})
                  > max by ({HPA_LABELS}) ({ks.HPA_SPEC_TARGET_METRIC}{{{hpa}, {CPU_METRIC}}})
                ) / 100
                and on ({HPA_LABELS})
                (
                  max by ({HPA_LABELS}) ({ks.HPA_CURRENT_REPLICAS}{{{hpa}}})
                  >= max by ({HPA_LABELS}) ({ks.HPA_MAX_REPLICAS}{{{hpa}}})
                )
            """,
            for_=config.hpa_saturated_for,
            severity="warning",
            summary="HPA {{ $labels.horizontalpodautoscaler }} is saturated",
            description=(
                "HPA {{ $labels.horizontalpodautoscaler }} in namespace {{ $labels.namespace }} "
                f"has run at its maximum replicas for more than {config.hpa_saturated_for} while "
                "the average CPU use of its pods is still {{ $value | humanizePercentage }} of "
                "their requests, above its target: it cannot add capacity."
            ),
        )
    ]


def groups(config: MonitoringConfig) -> list[dict]:
    """The area's rule groups (none without an HPA)."""
    found = rules(config)
    return [group(config, "hpa", found)] if found else []
