"""Series the rules and dashboards may use that do not come from the app itself.

The app's own names live in ``app.metric_names``; everything else a query reads must be listed
here, so that the dashboards and the e2e tests can check every selector against one allow-list
(a typo or a series that no longer exists then fails a test instead of a silent empty panel).

Sources: kube-state-metrics 2.x ``docs/metrics/workload/horizontalpodautoscaler-metrics.md``
(``*_target_metric`` since v2.6.0, ``metric_target_type`` one of value|utilization|average, the
``utilization`` value in percent of the pods' requests), ``pod-metrics.md`` and
``deployment-metrics.md``; cAdvisor (kubelet ``/metrics/cadvisor``) for the container series.
"""

from __future__ import annotations

# --- Prometheus itself ---------------------------------------------------------------------------
UP = "up"
"""Synthetic series per scrape target: 1 when the last scrape succeeded, else 0."""

# --- kube-state-metrics: HorizontalPodAutoscaler (labels namespace, horizontalpodautoscaler) ----
HPA_CURRENT_REPLICAS = "kube_horizontalpodautoscaler_status_current_replicas"
HPA_DESIRED_REPLICAS = "kube_horizontalpodautoscaler_status_desired_replicas"
HPA_MIN_REPLICAS = "kube_horizontalpodautoscaler_spec_min_replicas"
HPA_MAX_REPLICAS = "kube_horizontalpodautoscaler_spec_max_replicas"
HPA_SPEC_TARGET_METRIC = "kube_horizontalpodautoscaler_spec_target_metric"
"""The target per metric (labels metric_name, metric_target_type); utilization in percent."""
HPA_STATUS_TARGET_METRIC = "kube_horizontalpodautoscaler_status_target_metric"
"""The current value per metric (labels metric_name, metric_target_type); utilization in percent."""
HPA_STATUS_CONDITION = "kube_horizontalpodautoscaler_status_condition"

# --- kube-state-metrics: pods and deployments ----------------------------------------------------
POD_STATUS_READY = "kube_pod_status_ready"
POD_CONTAINER_RESTARTS = "kube_pod_container_status_restarts_total"
POD_CONTAINER_REQUESTS = "kube_pod_container_resource_requests"
"""Labels resource (cpu in cores, memory in bytes), unit."""
POD_CONTAINER_LIMITS = "kube_pod_container_resource_limits"
DEPLOYMENT_REPLICAS_AVAILABLE = "kube_deployment_status_replicas_available"
DEPLOYMENT_SPEC_REPLICAS = "kube_deployment_spec_replicas"

# --- cAdvisor ------------------------------------------------------------------------------------
CONTAINER_CPU_USAGE_SECONDS = "container_cpu_usage_seconds_total"
CONTAINER_MEMORY_WORKING_SET = "container_memory_working_set_bytes"
CONTAINER_CPU_THROTTLED_PERIODS = "container_cpu_cfs_throttled_periods_total"
CONTAINER_CPU_PERIODS = "container_cpu_cfs_periods_total"

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
    POD_CONTAINER_REQUESTS,
    POD_CONTAINER_LIMITS,
    DEPLOYMENT_REPLICAS_AVAILABLE,
    DEPLOYMENT_SPEC_REPLICAS,
)
"""Series exported by kube-state-metrics (job ``MonitoringConfig.kube_state_metrics_job``)."""

CADVISOR_SERIES = (
    CONTAINER_CPU_USAGE_SECONDS,
    CONTAINER_MEMORY_WORKING_SET,
    CONTAINER_CPU_THROTTLED_PERIODS,
    CONTAINER_CPU_PERIODS,
)
"""Series exported by the kubelet's cAdvisor endpoint (job ``kubelet``)."""

ALLOWED = KUBE_STATE_METRICS_JOB_SERIES + CADVISOR_SERIES
"""Every Kubernetes-only series name a rule or dashboard of this project may read.

Absent from the local stack (``make run``): anything built on them must be Kubernetes-only.
"""

PROMETHEUS_SERIES = (UP,)
"""Series Prometheus synthesises for every target (present on Kubernetes and locally)."""
