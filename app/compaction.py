"""Compaction of dead workers' prometheus_client multiprocess files.

Every gunicorn worker writes its counters and histograms into ``<type>_<pid>.db`` files in
``PROMETHEUS_MULTIPROC_DIR``. prometheus_client keeps them after the worker dies (they hold its
counts) and every scrape reads them all, so the scrape's cost and the directory grow with every
worker death (client_python #204, #275, #367, #443). ``compact`` folds the files of workers that
are gone into one aggregate file per type (``counter_aggregate.db``, ``histogram_aggregate.db``,
``summary_aggregate.db``) and removes them; totals stay exact.

What it relies on, all of prometheus_client 0.26's own file format and merge (read in its source,
``prometheus_client/multiprocess.py``, ``mmap_dict.py`` and ``values.py``):

* ``MultiProcessCollector.collect`` globs ``*.db`` and takes the type from the file name up to
  the first ``_``; for counters, histograms and summaries the rest of the name is not read, so an
  aggregate named ``counter_aggregate.db`` is summed like any worker's file.
* ``MultiProcessCollector.merge(files, accumulate=False)`` sums counters, summaries, histogram
  ``_sum`` and each histogram bucket *without* making buckets cumulative or adding ``_count``:
  exactly the values a worker file holds, so the result can be written back as a file.
* Keys are ``mmap_key(metric_name, sample_name, labelnames, labelvalues, help)`` (labels sorted
  by ``json.dumps(sort_keys=True)``) and ``MmapedDict.write_value(key, value, timestamp)``.
* Timestamps: ``merge`` drops sample timestamps (client_python #1056); counters, histograms and
  summaries never carry one (``values.py`` writes 0.0 on ``inc``), so 0.0 is written. Gauges are
  *not* compacted: live gauges are removed by ``mark_process_dead`` as prometheus_client
  documents, and the other gauge modes keep a per-pid meaning (``all`` has a ``pid`` label,
  ``mostrecent`` needs the timestamps #1056 loses).
* Float sums (a histogram's ``_sum``) depend on the order of addition; the aggregate's are nudged
  up by a few ulps so no scrape sees one drop across a compaction (``_never_below``).
* A new process opening an existing ``<type>_<pid>.db`` continues from its values
  (``values.py``: ``read_value`` at creation), and writes to it through a shared mmap.

Locking. Compaction changes two things a scrape reads (the aggregate gains the dead worker's
values; its files vanish), so a scrape in between would see a total doubled (aggregate written,
files not yet removed) or dropped - which Prometheus reads as a counter reset. ``compact`` holds
an exclusive ``fcntl.flock`` on ``.compaction.lock`` in the directory from before it reads until
after it removes; every scrape holds a shared one (``scrape_lock``) for its merge, so a scrape
sees the state before or after, never in between. flock works across processes whatever the
worker class (gthread, gevent: the lock is a system call, held for milliseconds). The compactor
never waits long for the lock (``lock_timeout_seconds``): a stopped scraper cannot stall the
gunicorn master; the files stay and the next compaction takes them.

Pid reuse. Only files of pids *not* in ``keep_pids`` are compacted. Under gunicorn the master
calls ``compact`` from ``child_exit`` (its main loop, right after ``waitpid`` reaped the worker,
before any new fork) with ``keep_pids`` = its current workers and itself. A recycled pid can
only belong to a worker forked later, whose files do not exist yet at that moment; if one is
forked later with a pid whose files were left behind (a compaction that failed), it continues
them (see above) and, being in ``keep_pids``, is never merged or removed while it lives.

Failure. Nothing is removed before the aggregate is completely written and renamed into place
(``os.replace``, atomic); a failure before that (e.g. ``ENOSPC``) removes the partial temporary
file and leaves every input in place, so nothing is lost or double counted. The window between
the rename and the removal is guarded by the lock; only a crash of the master itself in it would
leave a double count, and a restarted server wipes the directory anyway
(``app.gunicorn_conf.when_ready``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

LOCK_FILE = ".compaction.lock"
"""The lock file inside the multiprocess directory (not ``*.db``: the collector ignores it)."""
AGGREGATE = "aggregate"
"""The "pid" part of the aggregate files' names: ``counter_aggregate.db``."""
COMPACTED_TYPES = ("counter", "histogram", "summary")
"""File types whose values are sums, so a dead worker's values can be added into one file."""
STEPS = ("locked", "written", "replaced", "removed")
"""The points at which ``compact`` calls its ``pause`` hook, in order (tests stop there)."""

_WORKER_FILE = re.compile(r"^(counter|histogram|summary)_(\d+)\.db$")


class CompactionBusy(RuntimeError):
    """The lock could not be taken within the timeout (a scrape holds it); retry later."""


@dataclass(frozen=True)
class Compaction:
    """What one ``compact`` call did.

    Attributes:
        pids: the dead pids whose files were folded in (sorted).
        files_removed: how many ``<type>_<pid>.db`` files were removed.
        seconds: wall time spent holding the exclusive lock.
    """

    pids: tuple[int, ...]
    files_removed: int
    seconds: float


@contextmanager
def scrape_lock(directory: Path | str) -> Iterator[None]:
    """Hold the shared lock for the duration of a scrape's read of ``directory``.

    Blocks while a compaction runs (milliseconds). When the lock file cannot be opened (the
    directory vanished, is read-only or full) the scrape goes on unlocked: no compaction can
    hold a lock that does not exist, and the scrape's own error handling reports the directory.
    """
    try:
        fd = os.open(Path(directory) / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def compact(
    directory: Path | str,
    keep_pids: Collection[int],
    *,
    lock_timeout_seconds: float = 2.0,
    pause: Callable[[str], None] | None = None,
) -> Compaction:
    """Fold the counter/histogram/summary files of every pid not in ``keep_pids`` into the
    aggregates of ``directory`` and remove them.

    Args:
        directory: the prometheus_client multiprocess directory.
        keep_pids: pids that may still write (live workers, the caller): never touched.
        lock_timeout_seconds: how long to try for the exclusive lock.
        pause: test hook, called with each name of ``STEPS`` while the lock is held.

    Returns:
        what was compacted (nothing when no dead worker left files).

    Raises:
        CompactionBusy: the lock was not free within ``lock_timeout_seconds``.
        OSError: reading or writing failed; every input file is then still in place.
        RuntimeError: prometheus_client found a corrupt file (``Read beyond file size``).
    """
    directory = Path(directory)
    keep = {str(pid) for pid in keep_pids}
    step = pause or (lambda _name: None)
    with _exclusive(directory, lock_timeout_seconds):
        begin = time.monotonic()
        step("locked")
        dead: dict[str, list[Path]] = {}
        pids: set[int] = set()
        for entry in sorted(os.listdir(directory)):
            match = _WORKER_FILE.match(entry)
            if match and match.group(2) not in keep:
                dead.setdefault(match.group(1), []).append(directory / entry)
                pids.add(int(match.group(2)))
        replacements = []
        try:
            for kind, files in dead.items():
                aggregate = directory / f"{kind}_{AGGREGATE}.db"
                inputs = ([aggregate] if aggregate.exists() else []) + files
                replacements.append((_write_merged(inputs, aggregate), aggregate))
        except BaseException:
            for temporary, _ in replacements:
                temporary.unlink(missing_ok=True)
            raise
        step("written")
        for temporary, aggregate in replacements:
            os.replace(temporary, aggregate)
        step("replaced")
        removed = 0
        for files in dead.values():
            for path in files:
                path.unlink(missing_ok=True)
                removed += 1
        step("removed")
        return Compaction(tuple(sorted(pids)), removed, time.monotonic() - begin)


def _write_merged(inputs: list[Path], aggregate: Path) -> Path:
    """Write the sum of ``inputs`` into a temporary file beside ``aggregate``; return its path.

    The temporary name does not end in ``.db``, so no scrape reads it. On failure it is removed.
    """
    temporary = aggregate.with_name(aggregate.name + ".tmp")
    temporary.unlink(missing_ok=True)  # a leftover of a failed run
    merged = MultiProcessCollector.merge([str(p) for p in inputs], accumulate=False)
    out = MmapedDict(str(temporary))
    try:
        for metric in merged:
            for sample in metric.samples:
                key = mmap_key(
                    metric.name,
                    sample.name,
                    list(sample.labels),
                    list(sample.labels.values()),
                    metric.documentation,
                )
                out.write_value(key, _never_below(sample.value), 0.0)
    except BaseException:
        out.close()
        temporary.unlink(missing_ok=True)
        raise
    out.close()
    return temporary


def _never_below(value: float) -> float:
    """``value``, nudged up by 4 ulps (relative 2**-50) when it is not a whole number.

    Counts (whole numbers below 2**53) add exactly in any order. A float sum such as a
    histogram's ``_sum`` does not: a scrape adds the files in directory order, and ``(a + b) + c``
    may come out one ulp below ``a + (b + c)``, which Prometheus' ``rate`` would read as a counter
    reset (a spike). The nudge keeps the total after a compaction at or above the total before;
    it adds at most ~1e-15 relative per compaction (1e-9 after a million).
    """
    if value == int(value):
        return value
    return value + abs(value) * 2**-50


@contextmanager
def exclusive_lock(directory: Path | str, timeout: float = 2.0) -> Iterator[None]:
    """Hold the exclusive lock: no scrape reads ``directory`` meanwhile.

    Used by ``compact`` and by a new worker while it creates its files: prometheus_client
    creates a file empty and sizes it a moment later, and a scrape reading it in between fails
    (``struct.error`` on 0 bytes). Raises ``CompactionBusy`` after ``timeout`` seconds.
    """
    with _exclusive(Path(directory), timeout):
        yield


@contextmanager
def _exclusive(directory: Path, timeout: float) -> Iterator[None]:
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise CompactionBusy(f"{directory / LOCK_FILE} busy") from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
