"""Availability alerts: metrics gone, restarts, readiness, the HA minimum and outage pages.

Outage pages (issue 18) read signals that survive a crash loop, where an instance is up for
one scrape in ten: a ``for:`` on ``up == 0`` resets on every successful scrape, and a failed
scrape's series go stale at once, so ``sum(...) < N`` over them yields nothing. Instead:

- ``ServiceUnreachable``: the share of successful black-box probes of the Service (the
  client's view, through the blackbox exporter) over ``probe_window``;
- ``AllInstancesDown``: the share of successful scrapes over ``outage_window`` on the best
  instance (``max`` of ``avg_over_time(up[...])``), which a flap cannot reset;
- ``NoAvailableReplicas`` and ``NoEndpoints`` (Kubernetes only): kube-state-metrics' view of
  the Deployment and of the Service's Endpoints, scraped from a healthy exporter;
- ``ProbeAbsent``: the probe itself stopped reporting, so the first page is blind.

Per-instance series are aggregated ``by (job, namespace, pod)`` so an alert names its pod and
carries no scrape plumbing labels (instance, endpoint, container) whatever adds them.
"""

from __future__ import annotations

from alerts.common import alert, alert_prefix, group, number, percent_text, selector
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


def probe_selector(config: MonitoringConfig) -> str:
    """Label matchers of the black-box probe's series: ``{job="<probe_job>", namespace=...}``."""
    return f'{{job="{config.probe_job}", namespace="{config.namespace}"}}'


def outage_rules(config: MonitoringConfig) -> list[dict]:
    """The outage pages that survive flapping (module docstring) and the probe-absent ticket.

    ``NoAvailableReplicas`` and ``NoEndpoints`` need kube-state-metrics: left out when
    ``config.kubernetes`` is false (the local stack).
    """
    prefix = alert_prefix(config)
    sel = selector(config)
    probe = probe_selector(config)
    up = kubernetes_series.UP
    rules_ = [
        alert(
            f"{prefix}ServiceUnreachable",
            # avg_over_time of 0/1 samples is the share of successful probes: one lucky probe
            # of a crash-looping pod neither resets the condition nor hides the outage.
            expr=f"""
                avg by ({SERVICE_LABELS}) (
                  avg_over_time({kubernetes_series.PROBE_SUCCESS}{probe}[{config.probe_window}])
                ) < {number(config.probe_min_success_ratio)}
            """,
            for_=config.probe_failing_for,
            severity="critical",
            summary="{{ $labels.namespace }}: clients cannot reach the service",
            description=(
                f"Fewer than {percent_text(config.probe_min_success_ratio)} of the black-box "
                "probes of the service in namespace {{ $labels.namespace }} succeeded over the "
                f"last {config.probe_window}, for more than {config.probe_failing_for}: clients "
                "get errors or no answer."
            ),
        ),
        alert(
            f"{prefix}AllInstancesDown",
            expr=f"""
                max by ({SERVICE_LABELS}) (
                  avg_over_time({up}{sel}[{config.outage_window}])
                ) < {number(config.outage_min_up_ratio)}
            """,
            for_=config.outage_for,
            severity="critical",
            summary="{{ $labels.job }}: every instance is down or crash-looping",
            description=(
                "Every instance of job {{ $labels.job }} in namespace {{ $labels.namespace }} "
                f"answered fewer than {percent_text(config.outage_min_up_ratio)} of its scrapes "
                f"over the last {config.outage_window}, for more than {config.outage_for}: "
                "every instance is down or restarting in a loop."
            ),
        ),
        alert(
            f"{prefix}ProbeAbsent",
            expr=f"absent({kubernetes_series.PROBE_SUCCESS}{probe})",
            for_=config.probe_absent_for,
            severity="warning",
            summary="{{ $labels.namespace }}: the black-box probe of the service stopped reporting",
            description=(
                f"No {kubernetes_series.PROBE_SUCCESS} series of job {config.probe_job} in "
                "namespace {{ $labels.namespace }} for more than "
                f"{config.probe_absent_for}: the blackbox exporter or its Probe is gone, and "
                f"{prefix}ServiceUnreachable cannot fire."
            ),
        ),
    ]
    if not config.kubernetes:
        return rules_
    ksm = f'job="{config.kube_state_metrics_job}", namespace="{config.namespace}"'
    deployment = f'{ksm}, {kubernetes_series.DEPLOYMENT_LABEL}="{config.deployment_name}"'
    endpoint = f'{ksm}, {kubernetes_series.ENDPOINT_LABEL}="{config.job}"'
    dep_labels = f"namespace, {kubernetes_series.DEPLOYMENT_LABEL}"
    ep_labels = f"namespace, {kubernetes_series.ENDPOINT_LABEL}"
    return [
        *rules_,
        alert(
            f"{prefix}NoAvailableReplicas",
            # Scaled to zero on purpose (spec 0) is not an outage.
            expr=f"""
                max by ({dep_labels}) (
                  {kubernetes_series.DEPLOYMENT_AVAILABLE_REPLICAS}{{{deployment}}}
                ) == 0
                and on ({dep_labels})
                max by ({dep_labels}) (
                  {kubernetes_series.DEPLOYMENT_SPEC_REPLICAS}{{{deployment}}}
                ) > 0
            """,
            for_=config.no_available_replicas_for,
            severity="critical",
            summary="{{ $labels.deployment }} has no available replica",
            description=(
                "Deployment {{ $labels.deployment }} in namespace {{ $labels.namespace }} has "
                f"had no available replica for more than {config.no_available_replicas_for} "
                "although it wants some: every pod is failing to start, crash-looping or not "
                "ready."
            ),
        ),
        alert(
            f"{prefix}NoEndpoints",
            expr=f"""
                max by ({ep_labels}) ({kubernetes_series.ENDPOINT_INFO}{{{endpoint}}})
                unless on ({ep_labels})
                max by ({ep_labels}) (
                  {kubernetes_series.ENDPOINT_ADDRESS}{{{endpoint}, ready="true"}}
                )
            """,
            for_=config.no_endpoints_for,
            severity="critical",
            summary="Service {{ $labels.endpoint }} has no ready endpoint",
            description=(
                "The Endpoints of Service {{ $labels.endpoint }} in namespace "
                "{{ $labels.namespace }} have held no ready address for more than "
                f"{config.no_endpoints_for}: the Service sends clients nowhere."
            ),
        ),
    ]


def groups(config: MonitoringConfig) -> list[dict]:
    """The area's rule groups: ``availability`` and ``outage`` (the flapping-proof pages)."""
    return [
        group(config, "availability", rules(config)),
        group(config, "outage", outage_rules(config)),
    ]
