"""Compaction of dead workers' metrics files (``app.compaction``) on the real gunicorn server.

Three properties: after many kill -9s the directory holds only the live workers' files plus one
aggregate per type and every count is exact; a scrape that runs while the compactor is stopped
between any two of its steps sees neither a dropped nor a doubled total; a worker that gets a
dead worker's recycled pid is neither merged nor overwritten.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

from app import compaction
from app import metric_names as names
from tests.support.exposition import samples, value
from tests.support.server import GunicornServer

pytestmark = pytest.mark.integration

NS_LAST_PID = Path("/proc/sys/kernel/ns_last_pid")


@pytest.fixture
def server(tmp_path):
    """Factory: start a production server; every one started is killed at the end."""
    started: list[GunicornServer] = []

    def start(workers: int = 2, **env: str) -> GunicornServer:
        instance = GunicornServer(tmp_path, env={"WEB_CONCURRENCY": str(workers), **env})
        started.append(instance)
        instance.start()
        instance.wait_workers(workers)
        return instance

    yield start
    for instance in started:
        instance.kill()


def hello(text: str) -> tuple[float, float]:
    """(``/hello`` 200 counter, ``/hello`` histogram ``_count``) of one scrape."""
    counter = value(text, names.HTTP_REQUESTS, method="GET", route="/hello", status="200")
    count = value(text, f"{names.HTTP_REQUEST_DURATION}_count", method="GET", route="/hello")
    return counter or 0.0, count or 0.0


def cumulative(text: str) -> dict[tuple, float]:
    """Every counter-like sample of the request metrics: {(name, labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for s in samples(text)
        if s.name.startswith(names.HTTP_REQUESTS.removesuffix("_total"))
        or s.name.startswith(names.HTTP_REQUEST_DURATION)
    }


def kill_and_wait(srv: GunicornServer, pid: int, workers: int) -> list[int]:
    """kill -9 one worker and wait only for its replacement to run and answer."""
    born = psutil.Process(pid).create_time()
    os.kill(pid, signal.SIGKILL)
    return wait_replaced(srv, pid, born, workers)


def wait_replaced(srv: GunicornServer, pid: int, born: float, workers: int) -> list[int]:
    """Wait until ``workers`` workers run, none of them the process (``pid``, ``born``).

    By process identity, not pid: the replacement may get the same (recycled) pid.
    """
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live = []
        for child in psutil.Process(srv.process.pid).children():
            try:
                if child.status() != "zombie" and (child.pid, child.create_time()) != (pid, born):
                    live.append(child.pid)
            except psutil.NoSuchProcess:
                pass
        if len(live) == workers:
            srv.wait_healthy()
            return live
        time.sleep(0.01)
    raise AssertionError(f"no replacement for worker {pid} within 30 s:\n{srv.log()}")


def wait_counted(srv: GunicornServer, hellos: int, unmatched: int, timeout: float = 10) -> None:
    """Wait until ``/metrics`` counts ``hellos`` GET /hello 200s and ``unmatched`` 404s.

    Raises AssertionError after ``timeout`` seconds with the last counts seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        text = srv.get("/metrics").text
        route = names.ROUTE_UNMATCHED
        seen = (
            hello(text)[0],
            value(text, names.HTTP_REQUESTS, method="GET", route=route, status="404") or 0.0,
        )
        if seen == (hellos, unmatched):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"counts {seen}, expected {(hellos, unmatched)}")
        time.sleep(0.02)


def db_files(directory: Path) -> set[str]:
    return {entry for entry in os.listdir(directory) if entry.endswith(".db")}


def hello_in_file(path: Path) -> float:
    """The ``/hello`` 200 count in one worker's counter file."""
    for key, count, _timestamp, _position in MmapedDict.read_all_values_from_file(str(path)):
        if '"/hello"' in key and '"200"' in key:
            return count
    return 0.0


def test_after_150_kill9s_only_live_files_and_one_aggregate_remain_and_counts_are_exact(server):
    """150 idle workers killed with SIGKILL: at most live files + 1 aggregate per type; exact."""
    srv = server(workers=2)
    previous = cumulative(srv.get("/metrics").text)
    unmatched = 0
    for death in range(1, 151):
        assert srv.get("/hello").status_code == 200
        if death % 10 == 0:
            assert srv.get("/no-such-page").status_code == 404
            unmatched += 1
            # No scrape ever sees a counter go down (Prometheus would read a reset).
            current = cumulative(srv.get("/metrics").text)
            drops = {k: (v, current.get(k)) for k, v in previous.items() if current.get(k, 0) < v}
            assert not drops, f"after {death} deaths: {drops}"
            previous = current
        # Idle workers: a request is counted once its response is delivered (a moment after
        # the client has read it), so wait for the counts before the kill.
        wait_counted(srv, death, unmatched)
        kill_and_wait(srv, srv.worker_pids()[0], 2)

    live = set(srv.worker_pids())
    allowed = {f"{kind}_{pid}.db" for kind in ("counter", "histogram") for pid in live}
    allowed |= {"counter_aggregate.db", "histogram_aggregate.db"}
    assert db_files(srv.multiproc_dir) <= allowed
    text = srv.get("/metrics").text
    assert hello(text) == (150.0, 150.0)
    assert value(text, f"{names.HTTP_REQUEST_DURATION}_bucket", method="GET", route="/hello",
                 le="+Inf") == 150.0  # fmt: skip
    route = names.ROUTE_UNMATCHED
    assert value(text, names.HTTP_REQUESTS, method="GET", route=route, status="404") == unmatched
    assert not re.search(r"compaction .* failed", srv.log())


def test_a_scrape_during_any_compaction_step_sees_neither_a_drop_nor_a_double(server):
    """The compactor stopped after each step: a scrape waits and then reads the exact total."""
    srv = server(workers=2)
    for _ in range(20):
        srv.get("/hello")
    directory = srv.multiproc_dir
    total = hello(srv.get("/metrics").text)
    assert total == (20.0, 20.0)
    master = srv.process.pid
    workers = srv.worker_pids()
    deadline = time.monotonic() + 30
    while not all((directory / f"counter_{pid}.db").exists() for pid in workers):
        assert time.monotonic() < deadline, "a worker never created its files"
        time.sleep(0.05)  # post_worker_init (priming) may still be running
    victim = max(workers, key=lambda pid: hello_in_file(directory / f"counter_{pid}.db"))
    survivor = next(pid for pid in workers if pid != victim)
    victim_count = hello_in_file(directory / f"counter_{victim}.db")
    assert victim_count > 0

    # The master stopped: it cannot reap the victim and compact on its own; the survivor serves.
    victim_born = psutil.Process(victim).create_time()
    os.kill(master, signal.SIGSTOP)
    try:
        os.kill(victim, signal.SIGKILL)
        at_step, go = threading.Semaphore(0), threading.Semaphore(0)
        unlocked_views: dict[str, float] = {}

        def pause(step: str) -> None:
            # What a scrape WITHOUT the lock would read here (the control: shows the hazard).
            files = [str(p) for p in directory.glob("*.db")]
            merged = MultiProcessCollector.merge(files, accumulate=True)
            unlocked_views[step] = hello(_exposition(merged))[0]
            at_step.release()
            assert go.acquire(timeout=60)

        with ThreadPoolExecutor(max_workers=len(compaction.STEPS) + 1) as pool:
            compactor = pool.submit(compaction.compact, directory, {survivor, master}, pause=pause)
            scrapes = []
            for step in compaction.STEPS:
                assert at_step.acquire(timeout=30), f"compactor never reached {step}"
                scrapes.append(pool.submit(srv.get, "/metrics", timeout=60))
                time.sleep(0.3)
                assert not scrapes[-1].done(), f"a scrape finished while stopped at {step}"
                go.release()
            result = compactor.result(timeout=30)
            views = [hello(s.result(timeout=30).text) for s in scrapes]
    finally:
        os.kill(master, signal.SIGCONT)

    assert result.pids == (victim,)
    assert views == [total] * len(compaction.STEPS)
    # The control: unlocked, the directory really counts the victim twice between the rename
    # and the removal (and once at every other step), so the scrapes above were really held.
    assert unlocked_views["replaced"] == total[0] + victim_count
    assert {unlocked_views[s] for s in ("locked", "written", "removed")} == {total[0]}
    wait_replaced(srv, victim, victim_born, 2)
    assert db_files(directory) <= {
        f"{kind}_{pid}.db" for kind in ("counter", "histogram") for pid in srv.worker_pids()
    } | {"counter_aggregate.db", "histogram_aggregate.db"}
    assert hello(srv.get("/metrics").text) == total


def test_a_worker_with_a_recycled_pid_is_neither_merged_nor_overwritten(server):
    """A replacement forced onto a dead worker's pid (its files left behind) keeps counting."""
    if not os.access(NS_LAST_PID, os.W_OK):
        pytest.skip("needs a writable /proc/sys/kernel/ns_last_pid (root) to recycle a pid")
    srv = server(workers=2)
    directory = srv.multiproc_dir
    served = 0
    for _attempt in range(10):
        for _ in range(10):
            assert srv.get("/hello").status_code == 200
        served += 10
        victim, other = srv.worker_pids()
        # A fault makes the master's compaction of the victim fail (its temporary file's name is
        # taken by a directory), so its files stay behind; then force its pid onto the next fork.
        obstacle = directory / "counter_aggregate.db.tmp"
        obstacle.mkdir()
        try:
            os.kill(srv.process.pid, signal.SIGSTOP)
            os.kill(victim, signal.SIGKILL)
            while psutil_status(victim) != "zombie":
                time.sleep(0.01)
            NS_LAST_PID.write_text(str(victim - 1))
            os.kill(srv.process.pid, signal.SIGCONT)
            while psutil_status(victim) == "zombie":  # until the master has reaped it
                time.sleep(0.01)
            replacement = next(p for p in srv.wait_workers(2) if p != other)
        finally:
            obstacle.rmdir()
        if replacement == victim:
            break
        # Another process on the machine took the pid first: compact and retry.
        kill_and_wait(srv, other, 2)
    else:
        pytest.skip("the kernel never handed the dead worker's pid to its replacement")

    assert f"counter_{victim}.db" in db_files(directory)
    assert "compaction of dead workers' metrics files failed" in srv.log()
    assert hello(srv.get("/metrics").text) == (served, served)
    # The recycled pid is live: the next compaction (another worker's death) must keep its file.
    kill_and_wait(srv, other, 2)
    assert f"counter_{victim}.db" in db_files(directory)
    for _ in range(10):
        srv.get("/hello")
    assert hello(srv.get("/metrics").text) == (served + 10, served + 10)
    # And when the recycled worker dies, its file (old + new counts) is folded in once.
    live = kill_and_wait(srv, victim, 2)
    assert db_files(directory) <= {
        f"{kind}_{pid}.db" for kind in ("counter", "histogram") for pid in live
    } | {"counter_aggregate.db", "histogram_aggregate.db"}
    assert hello(srv.get("/metrics").text) == (served + 10, served + 10)


def psutil_status(pid: int) -> str:
    try:
        return psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return "gone"


def _exposition(metrics) -> str:
    """Text exposition of merged metric families (the test's own, lock-free view)."""

    class Fixed:
        def collect(self):
            return metrics

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())
    return generate_latest(registry).decode()


def test_max_requests_recycles_workers_and_every_count_stays_exact(server):
    """MAX_REQUESTS with jitter: workers recycle many times; counts exact, files bounded."""
    srv = server(workers=2, MAX_REQUESTS="10", MAX_REQUESTS_JITTER="5")
    # gevent's worker notices max_requests within a second (its loop sleeps 1 s) and then
    # drains: send requests until 6 recycles have happened, not a fixed number of requests.
    sent, deadline = 0, time.monotonic() + 60
    while srv.log().count("Autorestarting worker") < 6:  # gunicorn's max_requests message
        assert time.monotonic() < deadline, "workers did not recycle within 60 s"
        assert srv.get("/hello").status_code == 200
        sent += 1
    text = ""
    for _ in range(100):  # the last response's count lands just after its delivery
        text = srv.get("/metrics").text
        if hello(text)[0] >= sent:
            break
        time.sleep(0.05)
    assert hello(text) == (sent, sent)
    # A worker may be recycling right now (reaped, not yet compacted): poll briefly.
    deadline = time.monotonic() + 10
    while True:
        live = srv.worker_pids()
        extra = (
            db_files(srv.multiproc_dir)
            - {f"{kind}_{pid}.db" for kind in ("counter", "histogram") for pid in live}
            - {"counter_aggregate.db", "histogram_aggregate.db"}
        )
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not extra
