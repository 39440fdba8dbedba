"""The /metrics exposition in one process: names, labels, cardinality, container figures."""

import random
import string

import pytest

from app import metric_names as names
from tests.support.cgroups import MIB
from tests.support.exposition import family_names, samples, series, value


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return response.get_data(as_text=True)


def test_the_design_five_are_exported(client):
    """uptime, cpu %, memory %, ready and info{version,env} are present with sane values."""
    text = scrape(client)
    assert value(text, names.UPTIME) >= 0
    assert value(text, names.READY) == 1.0
    assert value(text, names.INFO, version="9.9.9", env="test") == 1.0
    assert 0 <= value(text, names.CPU_USAGE_PERCENT) <= 100
    # fake v2 tree: (64 - 16) MiB working set of a 128 MiB limit
    assert value(text, names.MEMORY_USAGE_PERCENT) == pytest.approx(37.5)


def test_container_figures_in_base_units(client):
    """Bytes, cores and seconds behind the percentages, from the fake cgroup v2 tree."""
    text = scrape(client)
    assert value(text, names.MEMORY_USAGE_BYTES) == 48 * MIB
    assert value(text, names.MEMORY_LIMIT_BYTES) == 128 * MIB
    assert value(text, names.CPU_LIMIT_CORES) == pytest.approx(0.2)
    assert value(text, names.CPU_USAGE_SECONDS) == pytest.approx(12.5)
    assert value(text, names.CPU_PERIODS) == 1000
    assert value(text, names.CPU_THROTTLED_PERIODS) == 40
    assert value(text, names.CPU_THROTTLED_SECONDS) == pytest.approx(1.5)


def test_unlimited_container_has_no_limit_series(make_app, tmp_path):
    """With "max" limits, the limit series are absent (never 9.2e18 or the host total)."""
    from tests.support.cgroups import write_v2_tree

    root = write_v2_tree(tmp_path / "unlimited", memory_max="max", cpu_max="max 100000")
    text = scrape(make_app(cgroup_root=root).test_client())
    assert value(text, names.MEMORY_LIMIT_BYTES) is None
    assert value(text, names.CPU_LIMIT_CORES) is None
    assert value(text, names.MEMORY_USAGE_BYTES) == 48 * MIB


def test_each_family_appears_once(client):
    """No metric family is repeated in a scrape."""
    client.get("/hello")
    found = family_names(scrape(client))
    assert len(found) == len(set(found))


def test_request_counter_and_histogram_labels(client):
    """Requests are counted by method/route/status; durations by method/route."""
    for _ in range(3):
        client.get("/hello")
    client.get("/hello?name=<bad>")
    text = scrape(client)
    assert value(text, names.HTTP_REQUESTS, method="GET", route="/hello", status="200") == 3
    assert value(text, names.HTTP_REQUESTS, method="GET", route="/hello", status="400") == 1
    count = value(text, names.HTTP_REQUEST_DURATION + "_count", method="GET", route="/hello")
    assert count == 4
    buckets = {
        s.labels["le"]
        for s in series(text, names.HTTP_REQUEST_DURATION + "_bucket")
        if s.labels["route"] == "/hello"
    }
    assert {float(b) for b in buckets} == {*names.HTTP_DURATION_BUCKETS, float("inf")}


def test_probes_and_metrics_have_their_own_routes(client):
    """Probes and /metrics are counted, under their own route labels."""
    client.get("/healthz")
    client.get("/readiness")
    scrape(client)
    text = scrape(client)
    for route in names.NON_API_ROUTES:
        assert value(text, names.HTTP_REQUESTS, method="GET", route=route, status="200") >= 1


def test_client_strings_never_become_label_values(client):
    """200 random unmatched paths and odd methods add no series beyond the fixed ones."""
    client.get("/missing")
    client.open("/hello", method="PROPFIND")
    client.open("/missing", method="BREW")
    scrape(client)  # so that /metrics' own series exist before counting
    before = len(samples(scrape(client)))
    rng = random.Random(42)
    for _ in range(200):
        path = "/" + "".join(rng.choices(string.ascii_letters + string.digits, k=12))
        client.get(path)
        client.open(path, method=rng.choice(["PROPFIND", "BREW", "FOO"]))
    text = scrape(client)
    assert len(samples(text)) == before
    routes = {s.labels.get("route") for s in samples(text) if "route" in s.labels}
    methods = {s.labels.get("method") for s in samples(text) if "method" in s.labels}
    assert routes <= {"/", "/hello", *names.NON_API_ROUTES, names.ROUTE_UNMATCHED}
    assert methods <= {"GET", "HEAD", "POST", "OPTIONS", names.METHOD_OTHER}
    assert value(text, names.HTTP_REQUESTS, method="OTHER", route="<unmatched>", status="405")


def test_instrumentation_can_be_switched_off(make_app):
    """METRICS_ENABLED=false drops the RED metrics but keeps the server figures."""
    client = make_app(metrics_enabled=False).test_client()
    client.get("/hello")
    text = scrape(client)
    assert not series(text, names.HTTP_REQUESTS)
    assert value(text, names.READY) == 1.0


def test_series_start_at_zero_so_the_first_error_counts(client):
    """Every route's GET 200/500 series and histogram exist at 0 before any request:
    rate()/increase() cannot see the increment that creates a series."""
    text = scrape(client)
    for route in ("/", "/hello"):
        for status in ("200", "500"):
            assert value(text, names.HTTP_REQUESTS, method="GET", route=route, status=status) == 0
        count = value(text, names.HTTP_REQUEST_DURATION + "_count", method="GET", route=route)
        assert count == 0


def test_collector_errors_count_each_failed_figure(make_app, tmp_path):
    """A cgroup read that raises (cpu.stat without usage_usec) drops the container figures,
    keeps the rest and counts figure="container" once per scrape."""
    from tests.support.cgroups import write_v2_tree

    root = write_v2_tree(tmp_path / "bad")
    client = make_app(cgroup_root=root).test_client()
    (root / "cpu.stat").write_text("nr_periods 1\n")
    for _ in range(3):
        assert client.get("/metrics").status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    assert value(text, names.COLLECTOR_ERRORS, figure="container") >= 3
    assert value(text, names.MEMORY_USAGE_BYTES) is None
    assert value(text, names.READY) == 1.0
