"""The real production command (gunicorn, several workers) over HTTP.

Every test starts ``gunicorn --config python:app.gunicorn_conf`` on a free port. Waits are
bounded and generous; no test asserts a speed except where the issue states a functional bound
(``/healthz`` within 1 s while the other threads are busy).
"""

from __future__ import annotations

import json
import random
import signal
import string
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from app import metric_names as names
from tests.conftest import require_binary
from tests.support.cgroups import MIB, set_v2_cpu_usage, write_v1_tree, write_v2_tree
from tests.support.exposition import family_names, samples, series, value
from tests.support.server import GunicornServer

pytestmark = pytest.mark.integration

CONTAINER_FAMILIES = (
    names.UPTIME,
    names.READY,
    names.INFO,
    names.CPU_USAGE_PERCENT,
    names.MEMORY_USAGE_PERCENT,
    names.MEMORY_USAGE_BYTES,
    names.MEMORY_LIMIT_BYTES,
    names.CPU_USAGE_SECONDS,
    names.CPU_LIMIT_CORES,
)


@pytest.fixture
def server(tmp_path):
    """Factory: start a production server with extra environment; all are killed at the end."""
    started: list[GunicornServer] = []

    def start(env=None, multiproc_dir=None, wait=True) -> GunicornServer:
        instance = GunicornServer(tmp_path, env=env, multiproc_dir=multiproc_dir)
        started.append(instance)
        return instance.start(wait=wait)

    yield start
    for instance in started:
        instance.kill()


def hello_count(text: str) -> float:
    return value(text, names.HTTP_REQUESTS, method="GET", route="/hello", status="200") or 0.0


def settled_hello_count(srv: GunicornServer, expected: float, timeout: float = 5.0) -> float:
    """The GET /hello 200 count once it reaches ``expected`` (or after ``timeout``).

    A request is counted just after its response is delivered, so the client may read the
    response a moment before the count moves: wait for it, then let the caller compare.
    """
    deadline = time.monotonic() + timeout
    while True:
        count = hello_count(srv.get("/metrics").text)
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def scrapes_from_every_worker(srv: GunicornServer, workers: int, attempts: int = 200) -> dict:
    """Scrape on fresh connections until each worker has answered once: {pid: text}.

    Each round sends ``workers`` scrapes at once: one after another on a loaded machine, the
    same idle worker can win every accept, while a busy worker leaves the next to another.
    """
    found: dict[int, str] = {}
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(attempts):
            for response in pool.map(lambda _: srv.get("/metrics"), range(workers)):
                found.setdefault(_answering_pid(srv, response), response.text)
            if len(found) == workers:
                return found
    raise AssertionError(f"only {len(found)} of {workers} workers answered in {attempts} scrapes")


def _answering_pid(srv: GunicornServer, response: requests.Response) -> int:
    # The access line is written once the response has been delivered, so just after the
    # client has read it: wait for it (bounded).
    request_id = response.headers["X-Request-ID"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for record in reversed(srv.log_records()):
            if record.get("request_id") == request_id and "pid" in record:
                return record["pid"]
        time.sleep(0.02)
    raise AssertionError("the access line names no pid")


def test_counters_exact_across_workers(server):
    """N requests spread over 3 workers count exactly N, whichever worker serves /metrics."""
    srv = server({"WEB_CONCURRENCY": "3"})
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: srv.get("/hello").status_code, range(150)))
    assert statuses == [200] * 150
    settled_hello_count(srv, 150)
    for pid, text in scrapes_from_every_worker(srv, 3).items():
        assert hello_count(text) == 150, f"worker {pid}"
        found = family_names(text)
        assert len(found) == len(set(found)), f"worker {pid} repeats a family"


def test_every_worker_starts_its_error_series_at_zero(server):
    """Before any request, each worker exports GET /hello 500 at 0 (so Prometheus sees the
    first 5xx as an increase); the first injected error then counts exactly 1."""
    srv = server({"WEB_CONCURRENCY": "2", "FAULT_ERROR_RATIO": "1"})
    for pid, text in scrapes_from_every_worker(srv, 2).items():
        zero = value(text, names.HTTP_REQUESTS, method="GET", route="/hello", status="500")
        assert zero == 0, f"worker {pid}"
    assert srv.get("/hello").status_code == 500
    text = srv.get("/metrics").text
    assert value(text, names.HTTP_REQUESTS, method="GET", route="/hello", status="500") == 1


def test_killed_worker_loses_no_counts(server):
    """kill -9 of a worker keeps its counts; the respawned worker adds to them."""
    srv = server({"WEB_CONCURRENCY": "2"})
    for _ in range(40):
        assert srv.get("/hello").status_code == 200
    # A count lands just after its response is delivered: kill an idle worker, not one that is
    # still recording the last request (that one may be lost, never double counted).
    assert settled_hello_count(srv, 40) == 40
    victim = srv.worker_pids()[0]
    import os

    os.kill(victim, signal.SIGKILL)
    srv.wait_workers(2, exclude={victim})
    for _ in range(10):
        assert srv.get("/hello").status_code == 200
    settled_hello_count(srv, 50)
    for text in scrapes_from_every_worker(srv, 2).values():
        assert hello_count(text) == 50


def test_container_gauges_are_single_series_with_one_value(server, tmp_path):
    """Each container-wide figure is one series, the same whichever worker answers."""
    root = write_v2_tree(tmp_path / "cgroup", current=100 * MIB, inactive_file=36 * MIB)
    srv = server({"WEB_CONCURRENCY": "3", "DEMO_APP_CGROUP_ROOT": str(root)})
    texts = scrapes_from_every_worker(srv, 3)
    for pid, text in texts.items():
        for family in CONTAINER_FAMILIES:
            sample_name = family if family != names.INFO else names.INFO
            found = series(text, sample_name)
            assert len(found) == 1, f"{family} on worker {pid}: {found}"
            assert "pid" not in found[0].labels
        assert value(text, names.MEMORY_USAGE_BYTES) == 64 * MIB
        assert value(text, names.MEMORY_LIMIT_BYTES) == 128 * MIB
        assert value(text, names.MEMORY_USAGE_PERCENT) == pytest.approx(50.0)
        assert value(text, names.CPU_LIMIT_CORES) == pytest.approx(0.2)


def test_cpu_percent_is_real_on_first_scrape_and_follows_usage(server, tmp_path):
    """The first scrape already carries a figure; CPU consumed afterwards raises it."""
    root = write_v2_tree(tmp_path / "cgroup", usage_usec=10_000_000)
    srv = server({"DEMO_APP_CGROUP_ROOT": str(root)})
    first = value(srv.get("/metrics").text, names.CPU_USAGE_PERCENT)
    assert first == 0.0  # no CPU consumed in the fake tree since the start
    set_v2_cpu_usage(root, 10_500_000)  # +0.5 CPU-seconds on a 0.2-core limit
    later = value(srv.get("/metrics").text, names.CPU_USAGE_PERCENT)
    assert later > 0.0


def test_cgroup_v1_unlimited_tree(server, tmp_path):
    """v1 with no limits: limit series absent, percentages relative to the host."""
    root = write_v1_tree(tmp_path / "cgroup", limit=9223372036854771712, quota=-1)
    srv = server({"DEMO_APP_CGROUP_ROOT": str(root)})
    text = srv.get("/metrics").text
    assert value(text, names.MEMORY_LIMIT_BYTES) is None
    assert value(text, names.CPU_LIMIT_CORES) is None
    assert value(text, names.MEMORY_USAGE_BYTES) == 70 * MIB
    assert 0 < value(text, names.MEMORY_USAGE_PERCENT) < 100


def test_random_unmatched_paths_add_no_series(server):
    """200+ random unmatched paths leave the number of request-metric series unchanged."""
    srv = server()
    srv.get("/warm-up-404")
    srv.get("/metrics")

    def request_series() -> int:
        text = srv.get("/metrics").text
        return len([s for s in samples(text) if s.name.startswith(names.HTTP_REQUESTS[:-6])])

    before = request_series()
    rng = random.Random(7)
    for _ in range(210):
        path = "/" + "/".join(
            "".join(rng.choices(string.ascii_letters, k=rng.randint(1, 9))) for _ in range(3)
        )
        assert srv.get(path).status_code == 404
    assert request_series() == before


def test_readiness_counts_from_master_start_and_survives_worker_respawn(server):
    """503 before the minimum uptime, 200 after; a respawned worker neither resets uptime
    nor flips readiness back."""
    srv = server({"READINESS_MIN_UPTIME_SECONDS": "3", "WEB_CONCURRENCY": "2"})
    early = srv.get("/readiness")
    assert early.status_code == 503
    deadline = time.monotonic() + 30
    while srv.get("/readiness").status_code != 200:
        assert time.monotonic() < deadline, "never became ready"
        time.sleep(0.2)
    uptime_before = value(srv.get("/metrics").text, names.UPTIME)
    import os

    for pid in srv.worker_pids():
        os.kill(pid, signal.SIGKILL)
    srv.wait_workers(2, exclude=set())
    time.sleep(0.5)
    for _ in range(10):
        assert srv.get("/readiness").status_code == 200
    text = srv.get("/metrics").text
    assert value(text, names.UPTIME) >= uptime_before
    assert value(text, names.READY) == 1.0


def test_request_ids_in_headers_and_logs(server):
    """Valid ids are echoed and bound; invalid ones replaced and never logged; no leaks."""
    srv = server()
    good = srv.get("/hello", headers={"X-Request-ID": "trace-123.abc_DEF"})
    assert good.headers["X-Request-ID"] == "trace-123.abc_DEF"
    bad_value = "not valid!" + "x" * 10
    bad = srv.get("/hello", headers={"X-Request-ID": bad_value})
    assert bad.headers["X-Request-ID"] != bad_value
    plain = srv.get("/hello")
    srv.stop()
    records = srv.log_records()
    assert bad_value not in srv.log()
    by_id = {r["request_id"]: r for r in records if "request_id" in r}
    assert by_id["trace-123.abc_DEF"]["path"] == "/hello"
    assert plain.headers["X-Request-ID"] in by_id
    assert len({good.headers["X-Request-ID"], plain.headers["X-Request-ID"]}) == 2
    gunicorn_lines = [r for r in records if r["logger"].startswith("gunicorn")]
    assert gunicorn_lines and all("request_id" not in r for r in gunicorn_lines)


def test_every_log_line_is_json(server):
    """Start-up, access, error and shutdown lines are all JSON with the four keys."""
    srv = server({"FAULT_ERROR_RATIO": "1"})
    srv.get("/hello")
    srv.get("/nope")
    assert srv.stop() == 0
    records = srv.log_records()
    assert len(records) > 5
    for record in records:
        assert {"timestamp", "level", "logger", "event"} <= record.keys(), record
        assert record["timestamp"].endswith("Z")
    access = [r for r in records if r["logger"] == "app.access"]
    assert {500, 404} <= {r["status"] for r in access}
    assert any("Shutting down" in r["event"] for r in records)
    assert any("Booting worker" in r["event"] for r in records)


def test_healthz_answers_while_other_threads_are_busy(server):
    """With all but one thread of the only worker busy on slow requests, /healthz < 1 s."""
    srv = server({"WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "4", "DEMO_APP_TEST_ROUTES": "true"})
    with ThreadPoolExecutor(3) as pool:
        slow = [pool.submit(srv.get, "/_test/slow?seconds=4") for _ in range(3)]
        time.sleep(1.0)  # let the three slow requests occupy their threads
        assert not any(f.done() for f in slow)
        start = time.monotonic()
        response = srv.get("/healthz", timeout=1.0)  # requests raises past 1 s
        assert response.json() == {"status": "ok"}
        assert time.monotonic() - start < 1.0
        assert [f.result().status_code for f in slow] == [200, 200, 200]


def test_sigterm_drains_then_exits_zero(server):
    """SIGTERM: readiness 503 at once, in-flight finishes, new requests still served during
    the drain, then exit 0 within drain + graceful timeout."""
    drain, graceful = 3.0, 5
    srv = server(
        {
            "SHUTDOWN_DRAIN_SECONDS": str(drain),
            "GUNICORN_GRACEFUL_TIMEOUT": str(graceful),
            "DEMO_APP_TEST_ROUTES": "true",
        }
    )
    results: dict[str, requests.Response] = {}
    in_flight = threading.Thread(
        target=lambda: results.setdefault("slow", srv.get("/_test/slow?seconds=2"))
    )
    in_flight.start()
    time.sleep(0.5)
    sent = time.monotonic()
    srv.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert srv.get("/readiness").status_code == 503
    assert srv.get("/hello").status_code == 200  # still served during the drain
    in_flight.join(10)
    assert results["slow"].status_code == 200
    assert srv.process.wait(drain + graceful + 10) == 0
    elapsed = time.monotonic() - sent
    assert elapsed >= drain - 0.5  # it did drain
    assert elapsed <= drain + graceful + 5


def test_restart_on_same_multiproc_dir_starts_clean(server, tmp_path):
    """A server restarted on the same multiprocess directory does not inherit old counts."""
    shared = tmp_path / "shared-multiproc"
    first = server(multiproc_dir=shared)
    for _ in range(5):
        first.get("/hello")
    assert settled_hello_count(first, 5) == 5
    assert first.stop() == 0
    second = server(multiproc_dir=shared)
    assert hello_count(second.get("/metrics").text) == 0
    assert second.get("/readiness").status_code == 200


def test_second_server_on_a_busy_port_leaves_the_first_ones_metrics(server, tmp_path):
    """A server started by mistake on the same port and directory fails to bind without
    wiping the running server's metrics (the directory is emptied only after the bind)."""
    shared = tmp_path / "shared-multiproc"
    first = server(multiproc_dir=shared)
    for _ in range(7):
        first.get("/hello")
    intruder = GunicornServer(tmp_path / "intruder", multiproc_dir=shared, port=first.port)
    (tmp_path / "intruder").mkdir()
    intruder.start(wait=False)
    try:
        assert intruder.process.wait(60) != 0
    finally:
        intruder.kill()
    assert "Connection in use" in intruder.log() or "Address already in use" in intruder.log()
    first.get("/hello")
    assert settled_hello_count(first, 8) == 8


def test_invalid_settings_fail_fast_with_json_message(tmp_path):
    """Bad environment: non-zero exit and one JSON line naming every bad variable."""
    srv = GunicornServer(tmp_path, env={"PORT": "http", "LOG_LEVEL": "loud"})
    srv.start(wait=False)
    assert srv.process.wait(30) != 0
    [record] = srv.log_records()
    assert record["level"] == "critical" and record["timestamp"].endswith("Z")
    assert "PORT='http'" in record["event"] and "LOG_LEVEL='loud'" in record["event"]


def test_promtool_accepts_the_exposition(server, tmp_path):
    """`promtool check metrics` exits 0 on a scrape after traffic of every kind."""
    promtool = require_binary("promtool", hint="apt-get install prometheus")
    srv = server({"FAULT_ERROR_RATIO": "0.5"})
    for path in ("/", "/hello", "/hello?name=%3C", "/nope", "/healthz", "/readiness"):
        srv.get(path)
    text = srv.get("/metrics").text
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_log_lines_parse_and_pid_is_reported(server):
    """Access lines carry the worker pid (used above to tell workers apart)."""
    srv = server()
    response = srv.get("/hello")
    _answering_pid(srv, response)  # waits for the access line
    record = next(
        r for r in srv.log_records() if r.get("request_id") == response.headers["X-Request-ID"]
    )
    assert isinstance(record["pid"], int)
    assert json.loads(json.dumps(record)) == record
    assert Path(f"/proc/{record['pid']}").exists()
