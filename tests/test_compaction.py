"""app.compaction without processes: exact sums, failure leaves the inputs, lock behaviour.

Worker files are written with prometheus_client's own MmapedDict and mmap_key, as its values
module does; the real-server properties are in tests/integration/test_compaction.py.
"""

from __future__ import annotations

import fcntl
import os

import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from app import compaction

COUNTER = ("demo_app_http_requests", "demo_app_http_requests_total", "Requests.")
HISTOGRAM = "demo_app_http_request_duration_seconds"


def write_worker(directory, pid: int, hello: float, slow: float) -> None:
    """A worker's counter and histogram files: ``hello`` requests, ``slow`` of them > 0.25 s."""
    counter = MmapedDict(str(directory / f"counter_{pid}.db"))
    name, sample, doc = COUNTER
    counter.write_value(mmap_key(name, sample, ["route"], ["/hello"], doc), hello, 0.0)
    counter.close()
    histogram = MmapedDict(str(directory / f"histogram_{pid}.db"))
    for le, value in (("0.25", hello - slow), ("+Inf", slow)):  # per-bucket, not cumulative
        key = mmap_key(HISTOGRAM, f"{HISTOGRAM}_bucket", ["route", "le"], ["/hello", le], "D.")
        histogram.write_value(key, value, 0.0)
    key = mmap_key(HISTOGRAM, f"{HISTOGRAM}_sum", ["route"], ["/hello"], "D.")
    histogram.write_value(key, hello * 0.1, 0.0)
    histogram.close()


def totals(directory) -> dict[tuple, float]:
    """What a scrape reads: the accumulated merge of every ``*.db`` file."""
    files = [str(p) for p in directory.glob("*.db")]
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in MultiProcessCollector.merge(files, accumulate=True)
        for s in metric.samples
    }


def test_dead_workers_fold_into_one_aggregate_per_type_with_exact_totals(tmp_path):
    """Two compactions (3 dead pids) leave only the live pid's files + 2 aggregates, same sums."""
    for pid, hello, slow in ((101, 7, 1), (102, 5, 0), (103, 11, 3), (200, 2, 2)):
        write_worker(tmp_path, pid, hello, slow)
    before = totals(tmp_path)
    assert compaction.compact(tmp_path, keep_pids={103, 200}).pids == (101, 102)
    assert compaction.compact(tmp_path, keep_pids={200}).pids == (103,)
    assert sorted(p.name for p in tmp_path.glob("*.db")) == [
        "counter_200.db",
        "counter_aggregate.db",
        "histogram_200.db",
        "histogram_aggregate.db",
    ]
    after = totals(tmp_path)
    sum_key = (f"{HISTOGRAM}_sum", (("route", "/hello"),))
    # Counts are exact; a float sum never drops (Prometheus would read a reset), within 1e-14.
    assert {k: v for k, v in after.items() if k != sum_key} == {
        k: v for k, v in before.items() if k != sum_key
    }
    assert before[sum_key] <= after[sum_key] <= before[sum_key] * (1 + 1e-14)
    assert before[(f"{HISTOGRAM}_count", (("route", "/hello"),))] == 25


def test_a_failed_write_removes_nothing(tmp_path):
    """The temporary aggregate cannot be written: an error, and every input is still there."""
    write_worker(tmp_path, 101, 7, 1)
    before = totals(tmp_path)
    (tmp_path / "counter_aggregate.db.tmp").mkdir()  # the temporary's name is taken
    with pytest.raises(OSError):
        compaction.compact(tmp_path, keep_pids=set())
    assert {p.name for p in tmp_path.glob("*.db")} == {"counter_101.db", "histogram_101.db"}
    assert totals(tmp_path) == before


def test_compaction_gives_up_while_a_scrape_holds_the_lock(tmp_path):
    """A scrape holding the shared lock: the compactor raises CompactionBusy, touches nothing."""
    write_worker(tmp_path, 101, 7, 1)
    with compaction.scrape_lock(tmp_path), pytest.raises(compaction.CompactionBusy):
        compaction.compact(tmp_path, keep_pids=set(), lock_timeout_seconds=0.05)
    assert (tmp_path / "counter_101.db").exists()
    assert compaction.compact(tmp_path, keep_pids=set()).files_removed == 2


def test_scrapes_share_the_lock_and_exclude_the_compactor(tmp_path):
    """Two scrapes lock at once; while they do, an exclusive lock is refused."""
    with compaction.scrape_lock(tmp_path), compaction.scrape_lock(tmp_path):
        fd = os.open(tmp_path / compaction.LOCK_FILE, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)


def test_a_scrape_of_a_vanished_directory_is_not_stopped_by_the_lock(tmp_path):
    """No lock file can be made: the scrape goes on (its own error handling reports the dir)."""
    with compaction.scrape_lock(tmp_path / "gone"):
        pass
