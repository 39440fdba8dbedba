"""Prometheus metrics: the request instrumentation and the ``/metrics`` exposition.

Follows prometheus_client's multiprocess rules: request metrics are Counter/Histogram objects
whose values live in ``PROMETHEUS_MULTIPROC_DIR`` (one mmap file per worker, summed at scrape
time, kept after a worker dies so no count is lost); every scrape builds a fresh registry with a
``MultiProcessCollector``. Server- and container-wide figures (uptime, readiness, info, CPU and
memory) are *not* per-worker values: ``ServerCollector`` computes them at scrape time from shared
state (the master's start time, the shutdown marker, the cgroup files), so each is one series with
the same value whichever worker answers - never per-pid, never multiplied by the worker count.

Names come from ``app.metric_names``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from app import compaction, container, metric_names
from app.lifecycle import ServerState
from app.logging import get_logger

__all__ = ["CONTENT_TYPE_PLAIN_0_0_4", "RequestMetrics", "ServerCollector", "render"]

PRIMED_STATUSES = (200, 500)
"""Statuses whose GET series every route starts with at 0: the SLI's good and bad events."""

log = get_logger("app.metrics")

COLLECTOR_FIGURES = (
    "container",
    metric_names.CPU_USAGE_PERCENT,
    metric_names.MEMORY_USAGE_PERCENT,
    metric_names.MEMORY_USAGE_BYTES,
    metric_names.MEMORY_LIMIT_BYTES,
    metric_names.CPU_USAGE_SECONDS,
    metric_names.CPU_LIMIT_CORES,
    metric_names.CPU_PERIODS,
    metric_names.CPU_THROTTLED_PERIODS,
    metric_names.CPU_THROTTLED_SECONDS,
)
"""The ``figure`` label values of ``COLLECTOR_ERRORS``: ``container`` (the whole cgroup read
failed) or the family left out."""

STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}
)


@dataclass(frozen=True)
class RequestMetrics:
    """The RED metric objects of one app instance (not registered on the global registry).

    ``observe`` keeps the labelled children it has used in small dicts: ``labels()`` validates
    and locks on every call, which is half the per-request cost. The dicts stay small because
    every label value comes from a fixed set (methods, URL rules, status codes).
    """

    requests: Counter
    duration: Histogram
    _counters: dict[tuple[str, str, int], Counter] = field(default_factory=dict)
    _histograms: dict[tuple[str, str], Histogram] = field(default_factory=dict)

    @classmethod
    def create(cls) -> RequestMetrics:
        """Create the request counter and duration histogram (no registry: exposition adds)."""
        return cls(
            requests=Counter(
                metric_names.HTTP_REQUESTS,
                "HTTP requests finished, by method, route (URL rule) and status code.",
                ["method", "route", "status"],
                registry=None,
            ),
            duration=Histogram(
                metric_names.HTTP_REQUEST_DURATION,
                "HTTP request duration in seconds, by method and route (URL rule).",
                ["method", "route"],
                buckets=metric_names.HTTP_DURATION_BUCKETS,
                registry=None,
            ),
        )

    def prime(self, routes: Iterable[str], statuses: Iterable[int] = PRIMED_STATUSES) -> None:
        """Create the GET series of ``routes`` at 0 (counter per status, histogram per route).

        ``rate()`` and ``increase()`` cannot see the increment that creates a series, so a
        counter born at 1 loses its first request - typically the first 5xx of a pod, the one
        the error ratio and the SLI need. Called in every process that serves requests (each
        gunicorn worker, after the fork), so the series exist at 0 in that worker's file.
        """
        for route in routes:
            for status in statuses:
                key = ("GET", route, status)
                if key not in self._counters:
                    self._counters[key] = self.requests.labels("GET", route, str(status))
                self._counters[key].inc(0)
            if ("GET", route) not in self._histograms:
                self._histograms[("GET", route)] = self.duration.labels("GET", route)

    def observe(self, method: str, route: str, status: int, duration_seconds: float) -> None:
        """Count one finished request and its duration (seconds)."""
        method = method if method in STANDARD_METHODS else metric_names.METHOD_OTHER
        counter = self._counters.get((method, route, status))
        if counter is None:  # a race only labels() the same child twice
            counter = self._counters[(method, route, status)] = self.requests.labels(
                method, route, str(status)
            )
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = self._histograms[(method, route)] = self.duration.labels(method, route)
        counter.inc()
        histogram.observe(duration_seconds)

    def count_rejected(self, method: str, status: int) -> None:
        """Count one request gunicorn refused before the app (``route="<rejected>"``).

        No duration: the request never reached the app, and its parse time says nothing about
        the service's latency.
        """
        method = method if method in STANDARD_METHODS else metric_names.METHOD_OTHER
        self.requests.labels(method, metric_names.ROUTE_REJECTED, str(status)).inc()


class ServerCollector(Collector):
    """Scrape-time figures shared by the whole server: the design's five and the container's.

    Args:
        state: start time and shutdown state (readiness, uptime).
        version, env: the ``demo_app_info`` labels.
        cgroup_root: the cgroup tree to read (``/sys/fs/cgroup`` in a pod).
        cpu_window: turns the CPU counter into a recent-window percentage.
        master_pid: root of the process tree for the psutil fallback (no cgroup).
    """

    def __init__(
        self,
        state: ServerState,
        version: str,
        env: str,
        cgroup_root: Path,
        cpu_window: container.CpuWindow,
        master_pid: int,
    ) -> None:
        self.state = state
        self.version = version
        self.env = env
        self.cgroup_root = cgroup_root
        self.cpu_window = cpu_window
        self.master_pid = master_pid
        # Scrape-time failures, per figure: a multiprocess counter (summed over workers, kept
        # when a worker dies) so any worker's scrape shows every worker's failures.
        self.errors = Counter(
            metric_names.COLLECTOR_ERRORS,
            "Scrape-time figures that could not be read (unreadable or malformed cgroup "
            "file, ...) and were left out of the scrape, by figure.",
            ["figure"],
            registry=None,
        )
        self._logged: set[str] = set()

    def prime(self) -> None:
        """Start each figure's error series at 0 (so the first failure shows as an increase)."""
        for figure in COLLECTOR_FIGURES:
            self.errors.labels(figure).inc(0)

    def _failed(self, figure: str, error: Exception) -> None:
        """Count a figure that could not be read; log it once per process and figure."""
        self.errors.labels(figure).inc()
        if figure not in self._logged:
            self._logged.add(figure)
            log.error(
                "figure left out of the scrape",
                figure=figure,
                error=f"{type(error).__name__}: {error}",
                cgroup_root=str(self.cgroup_root),
            )

    def collect(self) -> Iterator[Metric]:
        """Yield one gauge (or counter) family per figure; absent limits are not yielded."""
        yield _gauge(
            metric_names.UPTIME,
            "Seconds since the server (gunicorn master) started.",
            self.state.uptime_seconds(),
        )
        yield _gauge(
            metric_names.READY,
            "1 when the server is ready for traffic (GET /readiness answers 200), else 0.",
            1.0 if self.state.ready() else 0.0,
        )
        info = GaugeMetricFamily(
            metric_names.INFO, "Build information; value 1.", labels=["version", "env"]
        )
        info.add_metric([self.version, self.env], 1.0)
        yield info
        yield from self._container()

    def _container(self) -> Iterator[Metric]:
        # One unreadable or malformed figure must never fail the scrape (a 500 would take every
        # other series down with it): each is computed on its own, and a failure leaves that
        # figure out, counted in COLLECTOR_ERRORS and logged once.
        try:
            figures = container.read_figures(self.cgroup_root, self.master_pid)
        except Exception as error:  # any reader bug drops the figures, not /metrics
            self._failed("container", error)
            return

        def cpu_percent() -> float | None:
            return self.cpu_window.percent(
                figures.cpu_usage_seconds, container.cpu_capacity_cores(figures)
            )

        # (family, kind, help, value): a value of None (a limit not set, a figure the cgroup
        # does not report) leaves the family out of the scrape.
        table = (
            (
                metric_names.CPU_USAGE_PERCENT,
                GaugeMetricFamily,
                "CPU used over the last minute, percent of the container's CPU limit "
                "(of the CPUs this process may run on when unlimited).",
                cpu_percent,
            ),
            (
                metric_names.MEMORY_USAGE_PERCENT,
                GaugeMetricFamily,
                "Memory working set, percent of the container's memory limit "
                "(of the host's memory when unlimited).",
                lambda: container.memory_percent(figures),
            ),
            (
                metric_names.MEMORY_USAGE_BYTES,
                GaugeMetricFamily,
                "Memory working set of the container (usage minus inactive file cache), bytes.",
                lambda: figures.memory_working_set_bytes,
            ),
            (
                metric_names.MEMORY_LIMIT_BYTES,
                GaugeMetricFamily,
                "Memory limit of the container, bytes (absent when unlimited).",
                lambda: figures.memory_limit_bytes,
            ),
            (
                metric_names.CPU_USAGE_SECONDS,
                CounterMetricFamily,
                "CPU time consumed by the container, seconds.",
                lambda: figures.cpu_usage_seconds,
            ),
            (
                metric_names.CPU_LIMIT_CORES,
                GaugeMetricFamily,
                "CPU limit of the container, cores (absent when unlimited).",
                lambda: figures.cpu_limit_cores,
            ),
            (
                metric_names.CPU_PERIODS,
                CounterMetricFamily,
                "CFS enforcement periods elapsed.",
                lambda: figures.cpu_periods,
            ),
            (
                metric_names.CPU_THROTTLED_PERIODS,
                CounterMetricFamily,
                "CFS periods in which the container was throttled.",
                lambda: figures.cpu_throttled_periods,
            ),
            (
                metric_names.CPU_THROTTLED_SECONDS,
                CounterMetricFamily,
                "Time the container was throttled by its CPU quota, seconds.",
                lambda: figures.cpu_throttled_seconds,
            ),
        )
        for name, kind, documentation, compute in table:
            try:
                value = compute()
                if value is None:
                    continue
                family = kind(name, documentation, value=float(value))
            except Exception as error:  # see above: drop the figure, keep the rest
                self._failed(name, error)
                continue
            yield family


def render(
    request_metrics: RequestMetrics | None,
    server: ServerCollector,
    multiproc_dir: Path | None,
) -> bytes:
    """Render one scrape in the Prometheus text format from a fresh registry.

    Under gunicorn (``multiproc_dir`` set) the request metrics come from every worker's files
    through ``MultiProcessCollector``; in a single process from ``request_metrics`` directly.
    """
    registry = CollectorRegistry(auto_describe=False)
    if multiproc_dir is not None:
        MultiProcessCollector(registry, path=str(multiproc_dir))
    else:
        registry.register(server.errors)
        if request_metrics is not None:
            registry.register(request_metrics.requests)
            registry.register(request_metrics.duration)
    registry.register(server)
    if multiproc_dir is None:
        return generate_latest(registry)
    # The compactor holds this lock exclusively while it folds dead workers' files in: the
    # merge sees the files before or after a compaction, never a total dropped or doubled.
    with compaction.scrape_lock(multiproc_dir):
        return generate_latest(registry)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
