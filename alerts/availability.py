"""Availability alerts: metrics gone, restarts, readiness and the HA minimum.

Per-instance series are aggregated ``by (job, namespace, pod)`` so an alert names its pod and
carries no scrape plumbing labels (instance, endpoint, container) whatever adds them.
"""

from __future__ import annotations

from alerts.common import alert, alert_prefix, group, selector
from app import metric_names
from monitoring import kubernetes_series
from monitoring.config import MonitoringConfig

POD_LABELS = "job, namespace, pod"
SERVICE_LABELS = "job, namespace"


def rules(config: MonitoringConfig) -> list[dict]:
    """The availability alerts for ``config`` (``HA minimum`` = ``config.ha_min_ready``)."""
    prefix = alert_prefix(config)
    sel = selector(config)
    up = kubernetes_series.UP
    return [
        alert(
            f"{prefix}MetricsAbsent",
            # Three ways to lose the app's metrics, each keeping the job/namespace labels:
            # every target down (up == 0), no target at all (the ServiceMonitor stopped matching:
            # absent(up)), or targets up but the app's series gone (absent of its uptime gauge).
            expr=f"""
                sum by ({SERVICE_LABELS}) ({up}{sel}) == 0
                or
                absent({up}{sel})
                or
                absent({metric_names.UPTIME}{sel})
            """,
            for_=config.metrics_absent_for,
            severity="critical",
            summary="{{ $labels.job }}: the app's metrics are gone",
            description=(
                "No target of job {{ $labels.job }} in namespace {{ $labels.namespace }} has "
                f"been up, or its {metric_names.UPTIME} series have been absent, for more than "
                f"{config.metrics_absent_for}: every other alert of the app is blind."
            ),
        ),
        alert(
            f"{prefix}RestartingRepeatedly",
            # The uptime gauge drops back to ~0 whenever the gunicorn master restarts, so its
            # resets are the instance's restarts (the container keeps its pod name).
            expr=f"""
                max by ({POD_LABELS}) (
                  resets({metric_names.UPTIME}{sel}[{config.restarts_window}])
                ) >= {config.restarts_threshold}
            """,
            severity="warning",
            summary="{{ $labels.pod }} restarts repeatedly",
            description=(
                "Pod {{ $labels.pod }} of job {{ $labels.job }} in namespace "
                "{{ $labels.namespace }} restarted {{ $value }} times in the last "
                f"{config.restarts_window} (threshold {config.restarts_threshold})."
            ),
        ),
        alert(
            f"{prefix}InstanceNotReady",
            expr=f"""
                max by ({POD_LABELS}) ({metric_names.READY}{sel}) == 0
            """,
            for_=config.not_ready_for,
            severity="warning",
            summary="{{ $labels.pod }} is not ready",
            description=(
                "Pod {{ $labels.pod }} of job {{ $labels.job }} in namespace "
                "{{ $labels.namespace }} has answered /readiness with an error for more than "
                f"{config.not_ready_for}, longer than its start-up budget; it receives no traffic."
            ),
        ),
        alert(
            f"{prefix}TooFewReadyInstances",
            # Pods whose scrape fails drop out of the sum after the staleness period, so a
            # crashed instance counts as not ready. No series at all is MetricsAbsent's case.
            expr=f"""
                sum by ({SERVICE_LABELS}) (
                  max by ({POD_LABELS}) ({metric_names.READY}{sel})
                ) < {config.ha_min_ready}
            """,
            for_=config.ha_min_ready_for,
            severity="critical",
            summary="{{ $labels.job }} has fewer ready instances than its HA minimum",
            description=(
                "Only {{ $value }} instance(s) of job {{ $labels.job }} in namespace "
                "{{ $labels.namespace }} have been ready for more than "
                f"{config.ha_min_ready_for}, fewer than the HA minimum of {config.ha_min_ready}: "
                "one more failure takes the service down."
            ),
        ),
    ]


def groups(config: MonitoringConfig) -> list[dict]:
    """The area's rule groups."""
    return [group(config, "availability", rules(config))]
