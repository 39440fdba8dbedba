"""The series that do not come from the app but that alerts and dashboards may query.

The app's own names live in ``app.metric_names``; this project's recording rules are named by
``monitoring.config.slo_error_ratio_record``. Everything else a query may use is on the short
``ALLOWED`` list below, so a test can reject a typo or a series nobody scrapes.

Sources (kube-prometheus-stack scrapes all of them by default):

- cAdvisor, through the kubelet's ``/metrics/cadvisor`` (labels ``namespace``, ``pod``,
  ``container``; the pod-level cgroup has ``container=""`` and must be excluded when summing
  containers, see ``CADVISOR_CONTAINERS``).
- kube-state-metrics v2 (labels ``namespace`` plus the object: ``pod``/``container``,
  ``deployment`` or ``horizontalpodautoscaler``; resource series add ``resource`` and ``unit``).
- Prometheus itself: ``up`` (one per scraped target, 1 when the scrape succeeded) and ``ALERTS``
  (one per pending or firing alert, labels ``alertname``, ``alertstate`` and the alert's labels).
"""

from __future__ import annotations

# --- cAdvisor -------------------------------------------------------------------------------------
CONTAINER_CPU_USAGE = "container_cpu_usage_seconds_total"
"""Counter, CPU time used by a container, seconds (rate() = cores)."""
CONTAINER_MEMORY_WORKING_SET = "container_memory_working_set_bytes"
"""Gauge, a container's working set, bytes (what the kubelet and metrics-server report)."""

# --- kube-state-metrics ---------------------------------------------------------------------------
POD_CONTAINER_RESOURCE_REQUESTS = "kube_pod_container_resource_requests"
"""Gauge, a container's request; label ``resource`` (``cpu`` in cores, ``memory`` in bytes)."""
POD_CONTAINER_RESOURCE_LIMITS = "kube_pod_container_resource_limits"
"""Gauge, a container's limit; label ``resource`` (``cpu`` in cores, ``memory`` in bytes)."""
POD_CONTAINER_RESTARTS = "kube_pod_container_status_restarts_total"
"""Counter, restarts of a container."""
DEPLOYMENT_SPEC_REPLICAS = "kube_deployment_spec_replicas"
"""Gauge, the replicas a Deployment wants (set by the HPA when one scales it)."""
DEPLOYMENT_AVAILABLE_REPLICAS = "kube_deployment_status_replicas_available"
"""Gauge, a Deployment's available replicas (ready for at least ``minReadySeconds``)."""
ENDPOINT_INFO = "kube_endpoint_info"
"""Gauge 1 per Endpoints object (label ``endpoint``: the Service's name)."""
ENDPOINT_ADDRESS = "kube_endpoint_address"
"""Gauge 1 per address of an Endpoints object (labels ``endpoint``, ``ip``, ``ready``
"true"/"false"; kube-state-metrics >= v2.6)."""
HPA_CURRENT_REPLICAS = "kube_horizontalpodautoscaler_status_current_replicas"
"""Gauge, the replicas the HPA last observed."""
HPA_DESIRED_REPLICAS = "kube_horizontalpodautoscaler_status_desired_replicas"
"""Gauge, the replicas the HPA last computed from its metrics."""
HPA_MIN_REPLICAS = "kube_horizontalpodautoscaler_spec_min_replicas"
"""Gauge, the HPA's ``minReplicas``."""
HPA_MAX_REPLICAS = "kube_horizontalpodautoscaler_spec_max_replicas"
"""Gauge, the HPA's ``maxReplicas``."""
HPA_SPEC_TARGET_METRIC = "kube_horizontalpodautoscaler_spec_target_metric"
"""Gauge, the HPA's target per metric (labels ``metric_name``, e.g. ``cpu``, and
``metric_target_type``: value|utilization|average; utilization in percent of the requests)."""
HPA_STATUS_TARGET_METRIC = "kube_horizontalpodautoscaler_status_target_metric"
"""Gauge, the current value the HPA sees per metric (same labels as the spec series; since
kube-state-metrics v2.6.0)."""

# --- Prometheus -----------------------------------------------------------------------------------
PROBE_SUCCESS = "probe_success"
"""Gauge per black-box probe: 1 when the blackbox exporter's probe of the target succeeded
(its module's checks passed), else 0 (the exporter answers even when the target does not)."""
UP = "up"
"""Gauge per scrape target: 1 when the last scrape succeeded, else 0."""
ALERTS = "ALERTS"
"""Gauge with value 1 per pending or firing alert (label ``alertstate``)."""

ALLOWED = (
    CONTAINER_CPU_USAGE,
    CONTAINER_MEMORY_WORKING_SET,
    POD_CONTAINER_RESOURCE_REQUESTS,
    POD_CONTAINER_RESOURCE_LIMITS,
    POD_CONTAINER_RESTARTS,
    DEPLOYMENT_SPEC_REPLICAS,
    DEPLOYMENT_AVAILABLE_REPLICAS,
    ENDPOINT_INFO,
    ENDPOINT_ADDRESS,
    HPA_CURRENT_REPLICAS,
    HPA_DESIRED_REPLICAS,
    HPA_MIN_REPLICAS,
    HPA_MAX_REPLICAS,
    HPA_SPEC_TARGET_METRIC,
    HPA_STATUS_TARGET_METRIC,
    PROBE_SUCCESS,
    UP,
    ALERTS,
)
"""Every non-app series a generated query may use."""

KUBERNETES_ONLY = tuple(name for name in ALLOWED if name not in (UP, ALERTS, PROBE_SUCCESS))
"""The allowed series that exist only on Kubernetes (cAdvisor, kube-state-metrics), not in the
local stack: rules or panels reading them must be left out of the local configuration."""

WITHOUT_POD_LABEL = (
    DEPLOYMENT_SPEC_REPLICAS,
    DEPLOYMENT_AVAILABLE_REPLICAS,
    HPA_CURRENT_REPLICAS,
    HPA_DESIRED_REPLICAS,
    HPA_MIN_REPLICAS,
    HPA_MAX_REPLICAS,
    HPA_SPEC_TARGET_METRIC,
    HPA_STATUS_TARGET_METRIC,
    ENDPOINT_INFO,
    ENDPOINT_ADDRESS,
    PROBE_SUCCESS,
    ALERTS,
)
"""Allowed series that describe a namespace-level object, not a pod: no ``pod`` label to filter
on (``ALERTS`` carries only the labels its alert rule keeps)."""

# --- label names and matchers ---------------------------------------------------------------------
DEPLOYMENT_LABEL = "deployment"
"""kube-state-metrics' label naming the Deployment of ``kube_deployment_*``."""
HPA_LABEL = "horizontalpodautoscaler"
"""kube-state-metrics' label naming the HPA of ``kube_horizontalpodautoscaler_*``."""
ENDPOINT_LABEL = "endpoint"
"""kube-state-metrics' label naming the Endpoints object (= its Service) of ``kube_endpoint_*``."""
CADVISOR_CONTAINERS = 'container!="", container!="POD"'
"""Keeps real containers: drops cAdvisor's pod-level cgroup (``container=""``) and the pause
container (``POD``, on older runtimes), so a ``sum by (pod)`` does not count usage twice."""
