"""The series that do not come from the app but that alerts and dashboards may query.

The app's own names live in ``app.metric_names``; this project's recording rules are named by
``monitoring.config.slo_error_ratio_record``. Everything else a query may use is on the short
``ALLOWED`` list below, so a test can reject a typo or a series nobody scrapes.

Two kinds, kept apart because the local stack (``make run``) has only one of them:

- ``KUBERNETES_ONLY``: kube-state-metrics and cAdvisor series, scraped by kube-prometheus-stack
  on a cluster and absent locally. The e2e tests of the local stack exempt exactly these names
  from "every metric a rule or dashboard uses exists".
- ``PROMETHEUS_SERIES``: synthesised by Prometheus itself (``up`` per target, ``ALERTS`` per
  pending or firing alert), present on Kubernetes and locally.

Sources (kube-prometheus-stack scrapes all of them by default):

- cAdvisor, through the kubelet's ``/metrics/cadvisor`` (labels ``namespace``, ``pod``,
  ``container``; the pod-level cgroup has ``container=""`` and must be excluded when summing
  containers, see ``CADVISOR_CONTAINERS``).
- kube-state-metrics 2.x (labels ``namespace`` plus the object: ``pod``/``container``,
  ``deployment`` or ``horizontalpodautoscaler``; resource series add ``resource`` and ``unit``):
  ``docs/metrics/workload/horizontalpodautoscaler-metrics.md`` (``*_target_metric`` since
  v2.6.0, ``metric_target_type`` one of value|utilization|average, the ``utilization`` value in
  percent of the pods' requests), ``pod-metrics.md`` and ``deployment-metrics.md``.
- Prometheus itself: ``up`` (one per scraped target, 1 when the scrape succeeded) and ``ALERTS``
  (one per pending or firing alert, labels ``alertname``, ``alertstate`` and the alert's labels).
"""

from __future__ import annotations

# --- cAdvisor -------------------------------------------------------------------------------------
CONTAINER_CPU_USAGE = "container_cpu_usage_seconds_total"
"""Counter, CPU time used by a container, seconds (rate() = cores)."""
CONTAINER_CPU_USAGE_SECONDS = CONTAINER_CPU_USAGE
"""Alias of ``CONTAINER_CPU_USAGE`` (the alerts' spelling)."""
CONTAINER_MEMORY_WORKING_SET = "container_memory_working_set_bytes"
"""Gauge, a container's working set, bytes (what the kubelet and metrics-server report)."""
CONTAINER_CPU_THROTTLED_PERIODS = "container_cpu_cfs_throttled_periods_total"
"""Counter, CFS periods in which a container was throttled."""
CONTAINER_CPU_PERIODS = "container_cpu_cfs_periods_total"
"""Counter, CFS enforcement periods elapsed for a container."""

# --- kube-state-metrics: HorizontalPodAutoscaler (labels namespace, horizontalpodautoscaler) ----
HPA_CURRENT_REPLICAS = "kube_horizontalpodautoscaler_status_current_replicas"
"""Gauge, the replicas the HPA last observed."""
HPA_DESIRED_REPLICAS = "kube_horizontalpodautoscaler_status_desired_replicas"
"""Gauge, the replicas the HPA last computed from its metrics."""
HPA_MIN_REPLICAS = "kube_horizontalpodautoscaler_spec_min_replicas"
"""Gauge, the HPA's ``minReplicas``."""
HPA_MAX_REPLICAS = "kube_horizontalpodautoscaler_spec_max_replicas"
"""Gauge, the HPA's ``maxReplicas``."""
HPA_SPEC_TARGET_METRIC = "kube_horizontalpodautoscaler_spec_target_metric"
"""The target per metric (labels metric_name, metric_target_type); utilization in percent."""
HPA_STATUS_TARGET_METRIC = "kube_horizontalpodautoscaler_status_target_metric"
"""The current value per metric (labels metric_name, metric_target_type); utilization in percent."""
HPA_STATUS_CONDITION = "kube_horizontalpodautoscaler_status_condition"
"""Gauge per HPA condition (labels condition, status)."""

# --- kube-state-metrics: pods and deployments ----------------------------------------------------
POD_STATUS_READY = "kube_pod_status_ready"
"""Gauge per pod and condition status (label ``condition``: true, false, unknown)."""
POD_CONTAINER_RESTARTS = "kube_pod_container_status_restarts_total"
"""Counter, restarts of a container."""
POD_CONTAINER_RESOURCE_REQUESTS = "kube_pod_container_resource_requests"
"""Gauge, a container's request; label ``resource`` (``cpu`` in cores, ``memory`` in bytes)."""
POD_CONTAINER_REQUESTS = POD_CONTAINER_RESOURCE_REQUESTS
"""Alias of ``POD_CONTAINER_RESOURCE_REQUESTS`` (the alerts' spelling)."""
POD_CONTAINER_RESOURCE_LIMITS = "kube_pod_container_resource_limits"
"""Gauge, a container's limit; label ``resource`` (``cpu`` in cores, ``memory`` in bytes)."""
POD_CONTAINER_LIMITS = POD_CONTAINER_RESOURCE_LIMITS
"""Alias of ``POD_CONTAINER_RESOURCE_LIMITS`` (the alerts' spelling)."""
DEPLOYMENT_SPEC_REPLICAS = "kube_deployment_spec_replicas"
"""Gauge, the replicas a Deployment wants (set by the HPA when one scales it)."""
DEPLOYMENT_AVAILABLE_REPLICAS = "kube_deployment_status_replicas_available"
"""Gauge, a Deployment's available replicas (ready for at least ``minReadySeconds``)."""
DEPLOYMENT_REPLICAS_AVAILABLE = DEPLOYMENT_AVAILABLE_REPLICAS
"""Alias of ``DEPLOYMENT_AVAILABLE_REPLICAS`` (the alerts' spelling)."""

# --- Prometheus -----------------------------------------------------------------------------------
UP = "up"
"""Gauge per scrape target: 1 when the last scrape succeeded, else 0."""
ALERTS = "ALERTS"
"""Gauge with value 1 per pending or firing alert (label ``alertstate``)."""

# --- the lists ------------------------------------------------------------------------------------
KUBE_STATE_METRICS_JOB_SERIES = (
    HPA_CURRENT_REPLICAS,
    HPA_DESIRED_REPLICAS,
    HPA_MIN_REPLICAS,
    HPA_MAX_REPLICAS,
    HPA_SPEC_TARGET_METRIC,
    HPA_STATUS_TARGET_METRIC,
    HPA_STATUS_CONDITION,
    POD_STATUS_READY,
    POD_CONTAINER_RESTARTS,
    POD_CONTAINER_RESOURCE_REQUESTS,
    POD_CONTAINER_RESOURCE_LIMITS,
    DEPLOYMENT_AVAILABLE_REPLICAS,
    DEPLOYMENT_SPEC_REPLICAS,
)
"""Series exported by kube-state-metrics (job ``MonitoringConfig.kube_state_metrics_job``)."""

CADVISOR_SERIES = (
    CONTAINER_CPU_USAGE,
    CONTAINER_MEMORY_WORKING_SET,
    CONTAINER_CPU_THROTTLED_PERIODS,
    CONTAINER_CPU_PERIODS,
)
"""Series exported by the kubelet's cAdvisor endpoint (job ``kubelet``)."""

KUBERNETES_ONLY = KUBE_STATE_METRICS_JOB_SERIES + CADVISOR_SERIES
"""Every Kubernetes-only series name a rule or dashboard of this project may read.

Absent from the local stack (``make run``): anything built on them must be Kubernetes-only, and
the local stack's e2e tests exempt exactly these names."""

PROMETHEUS_SERIES = (UP, ALERTS)
"""Series Prometheus synthesises (present on Kubernetes and locally)."""

ALLOWED = KUBERNETES_ONLY + PROMETHEUS_SERIES
"""Every non-app series a generated query may use."""

WITHOUT_POD_LABEL = (
    DEPLOYMENT_SPEC_REPLICAS,
    DEPLOYMENT_AVAILABLE_REPLICAS,
    HPA_CURRENT_REPLICAS,
    HPA_DESIRED_REPLICAS,
    HPA_MIN_REPLICAS,
    HPA_MAX_REPLICAS,
    ALERTS,
)
"""Allowed series that describe a namespace-level object, not a pod: no ``pod`` label to filter
on (``ALERTS`` carries only the labels its alert rule keeps)."""

# --- label names and matchers ---------------------------------------------------------------------
DEPLOYMENT_LABEL = "deployment"
"""kube-state-metrics' label naming the Deployment of ``kube_deployment_*``."""
HPA_LABEL = "horizontalpodautoscaler"
"""kube-state-metrics' label naming the HPA of ``kube_horizontalpodautoscaler_*``."""
CADVISOR_CONTAINERS = 'container!="", container!="POD"'
"""Keeps real containers: drops cAdvisor's pod-level cgroup (``container=""``) and the pause
container (``POD``, on older runtimes), so a ``sum by (pod)`` does not count usage twice."""
