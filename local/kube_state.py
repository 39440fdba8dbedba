"""A stand-in for kube-state-metrics in the local stack: the Kubernetes series the dashboards
read about the app's Deployment and its container, served from this process.

The local stack has no cluster, so nothing else exposes them; without them the "Ready pods vs
desired", "Targets up vs expected" and "Container restarts" panels would have nothing to show
(or prove) locally. Served on ``/metrics`` with kube-state-metrics v2's names and labels
(``monitoring.kubernetes_series``), scraped by the local Prometheus under
``config.kube_state_metrics_job`` with ``honor_labels`` as kube-prometheus-stack scrapes the
real one:

- ``kube_deployment_spec_replicas{namespace, deployment}``: the replicas the local stack runs
  (one instance);
- ``kube_pod_container_status_restarts_total{namespace, pod, container, uid}``: how often the
  stack restarted the app's container (``LocalStack.restart_app``, what the kubelet does after a
  crash or a failed liveness probe). A restart keeps the pod, so the series stays one series;
  the app stopped for good (``stop_app``) is not a restart.

Only these two are simulated (``SIMULATED``); cAdvisor and HPA series stay Kubernetes-only.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from monitoring import kubernetes_series as k8s
from monitoring.config import MonitoringConfig

SIMULATED = (k8s.DEPLOYMENT_SPEC_REPLICAS, k8s.POD_CONTAINER_RESTARTS)
"""The kube-state-metrics series the local stack serves (all other Kubernetes ones it lacks)."""

LOCAL_REPLICAS = 1
"""The local stack runs one instance of the app: the Deployment's desired replicas."""


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        """No access log: Prometheus scrapes every 5 s."""


class KubeStateMetrics:
    """The simulated kube-state-metrics endpoint; ``start()``, ``record_restart()``, ``stop()``.

    Args:
        config: names the namespace, Deployment (``deployment_name``) and container
            (``app_name``, the container's name in k8s/demo-app-deployment.yaml).
        pod: the local instance's ``pod`` label.
        port: TCP port on ``host``.
    """

    def __init__(
        self, config: MonitoringConfig, pod: str, port: int, host: str = "127.0.0.1"
    ) -> None:
        self.config = config
        self.pod = pod
        self.port = port
        self._restarts = 0
        self._lock = threading.Lock()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        self._server: WSGIServer = make_server(
            host, port, make_wsgi_app(registry), handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="kube-state-metrics", daemon=True
        )

    @property
    def restarts(self) -> int:
        """Container restarts recorded so far."""
        with self._lock:
            return self._restarts

    def record_restart(self) -> int:
        """Count one restart of the app's container; returns the new total."""
        with self._lock:
            self._restarts += 1
            return self._restarts

    def collect(self):
        """The series, read fresh on each scrape (prometheus_client's custom collector API)."""
        config = self.config
        desired = GaugeMetricFamily(
            k8s.DEPLOYMENT_SPEC_REPLICAS,
            "Number of desired pods for a deployment.",
            labels=["namespace", k8s.DEPLOYMENT_LABEL],
        )
        desired.add_metric([config.namespace, config.deployment_name], LOCAL_REPLICAS)
        yield desired
        restarts = CounterMetricFamily(
            k8s.POD_CONTAINER_RESTARTS.removesuffix("_total"),
            "The number of container restarts per container.",
            labels=["namespace", "pod", "uid", "container"],
        )
        restarts.add_metric(
            [config.namespace, self.pod, f"local-{self.pod}", config.app_name], self.restarts
        )
        yield restarts

    def start(self) -> KubeStateMetrics:
        """Serve from a daemon thread; returns ``self``."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
