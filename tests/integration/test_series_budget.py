"""The series budget: how many series one pod exports, pinned so a new label or bucket shows up
in review (docs/performance.md, "Series budget", states the figure per pod and at HPA max).

The pod is the real server with a cgroup v2 tree that has limits (every container figure is
present). Every route is hit with every status it answers: ``/`` 200, ``/hello`` 200 400 500,
``/healthz`` 200, ``/readiness`` 200 503, ``/metrics`` 200, an unknown path 404 and a wrong
method 405 (both ``<unmatched>``). A change of this count means the budget in the docs and the
memory it costs Prometheus must be re-stated.
"""

from __future__ import annotations

import signal
from collections import Counter

import pytest
import requests

from app import metric_names as names
from tests.support.cgroups import write_v2_tree
from tests.support.exposition import samples
from tests.support.server import GunicornServer

pytestmark = pytest.mark.integration

BUCKETS = len(names.HTTP_DURATION_BUCKETS) + 1  # + "+Inf"
HISTOGRAM_LABEL_SETS = 7  # GET x 5 routes, GET <unmatched>, POST <unmatched>
EXPECTED = {
    # GET x 5 routes x {200, 500} primed, + /hello 400, /readiness 503, 404, 405
    names.HTTP_REQUESTS: 14,
    f"{names.HTTP_REQUEST_DURATION}_bucket": HISTOGRAM_LABEL_SETS * BUCKETS,
    f"{names.HTTP_REQUEST_DURATION}_count": HISTOGRAM_LABEL_SETS,
    f"{names.HTTP_REQUEST_DURATION}_sum": HISTOGRAM_LABEL_SETS,
    # one per figure the collector can drop (app.metrics.COLLECTOR_FIGURES), primed at 0
    names.COLLECTOR_ERRORS: 10,
    **{
        name: 1
        for name in (
            names.UPTIME,
            names.READY,
            names.INFO,
            names.CPU_USAGE_PERCENT,
            names.MEMORY_USAGE_PERCENT,
            names.MEMORY_USAGE_BYTES,
            names.MEMORY_LIMIT_BYTES,
            names.CPU_USAGE_SECONDS,
            names.CPU_LIMIT_CORES,
            names.CPU_PERIODS,
            names.CPU_THROTTLED_PERIODS,
            names.CPU_THROTTLED_SECONDS,
        )
    },
}
SERIES_PER_POD = 148
"""The pinned total (docs/performance.md); ``EXPECTED`` says where each series comes from."""


def exercise_every_route(srv: GunicornServer) -> str:
    """Hit every route with every status it answers (ends in the SIGTERM drain); the scrape.

    Needs ``FAULT_ERROR_RATIO`` between 0 and 1 and a ``SHUTDOWN_DRAIN_SECONDS`` long enough to
    finish. Also used by ``tests.benchmark.series_memory`` (one synthetic pod).
    """
    seen: set[tuple[str, str, int]] = set()

    def hit(method: str, path: str, route: str) -> None:
        status = requests.request(method, srv.url(path), timeout=10).status_code
        seen.add((method, route, status))

    for _ in range(200):  # FAULT_ERROR_RATIO=0.5: both 200 and 500 come quickly
        hit("GET", "/hello", "/hello")
        if {("GET", "/hello", 200), ("GET", "/hello", 500)} <= seen:
            break
    hit("GET", "/hello?name=%00", "/hello")
    for route in ("/", names.ROUTE_HEALTHZ, names.ROUTE_READINESS, names.ROUTE_METRICS):
        hit("GET", route, route)
    hit("GET", "/no-such-page", names.ROUTE_UNMATCHED)
    hit("POST", names.ROUTE_HEALTHZ, names.ROUTE_UNMATCHED)
    srv.process.send_signal(signal.SIGTERM)  # the drain: readiness answers 503
    for _ in range(100):
        hit("GET", names.ROUTE_READINESS, names.ROUTE_READINESS)
        if ("GET", names.ROUTE_READINESS, 503) in seen:
            break
    missing = {
        ("GET", "/hello", 200),
        ("GET", "/hello", 400),
        ("GET", "/hello", 500),
        ("GET", names.ROUTE_READINESS, 503),
        ("GET", names.ROUTE_UNMATCHED, 404),
        ("POST", names.ROUTE_UNMATCHED, 405),
    } - seen
    assert not missing, f"never answered: {missing}"
    return srv.get(names.ROUTE_METRICS).text


def test_one_pod_exports_the_pinned_number_of_series(tmp_path):
    """Every route x every status it answers: exactly SERIES_PER_POD series, by family."""
    cgroup = write_v2_tree(tmp_path / "cgroup")
    env = {
        "DEMO_APP_CGROUP_ROOT": str(cgroup),
        "FAULT_ERROR_RATIO": "0.5",
        "SHUTDOWN_DRAIN_SECONDS": "30",
    }
    with GunicornServer(tmp_path, env=env) as srv:
        text = exercise_every_route(srv)
    by_family = Counter(s.name for s in samples(text))
    assert dict(by_family) == EXPECTED
    assert sum(by_family.values()) == SERIES_PER_POD
