"""Faults of the prometheus_client multiprocess directory: full, vanished, unwritable.

prometheus_client maps one file per worker and metric type (``counter_<pid>.db``, ...) and
grows it with ``truncate``, which on tmpfs or a full disk succeeds without allocating any
block: the first write into the new pages then raises SIGBUS, which Python cannot catch, and
the worker dies before it logs anything (a respawn loop). ``install_space_reservation`` makes
every such file reserve its blocks with ``posix_fallocate`` *before* it is mapped or grown, so a
full filesystem surfaces as ``OSError(ENOSPC)`` in Python instead.

``MetricsFault`` is what a worker does with that error: it keeps serving requests, stops
recording metrics, logs the cause once, and its ``/metrics`` answers 503 with the reason, so
Prometheus' ``up`` goes 0 and the metrics-absent alert fires. The operator's steps are in
``docs/service.md``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from prometheus_client import mmap_dict, values

from app.logging import get_logger

log = get_logger("app.metrics")


def _reserve(fd: int, size: int) -> None:
    """Allocate ``size`` bytes of ``fd`` on disk, or raise ``OSError`` (ENOSPC, ...)."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as error:
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        # A filesystem without fallocate (rare: some network filesystems): write zeroes.
        current = os.fstat(fd).st_size
        if size > current:
            os.pwrite(fd, b"\0" * (size - current), current)


class _ReservingFile:
    """The open file of a mapped dict whose ``truncate`` reserves the blocks first."""

    def __init__(self, f) -> None:
        self._f = f

    def truncate(self, size: int) -> int:
        _reserve(self._f.fileno(), size)
        return self._f.truncate(size)

    def __getattr__(self, name: str):
        return getattr(self._f, name)


class ReservingMmapedDict(mmap_dict.MmapedDict):
    """prometheus_client's ``MmapedDict`` that never maps a page without a block behind it.

    Raises:
        OSError: the filesystem has no room for the file (``ENOSPC``) or is not writable. A
            file this process created and could not reserve is removed again, so a scrape
            never reads an empty one.
    """

    def __init__(self, filename: str, read_mode: bool = False) -> None:
        if not read_mode:
            created = not os.path.exists(filename)
            fd = os.open(filename, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size < mmap_dict._INITIAL_MMAP_SIZE:
                    _reserve(fd, mmap_dict._INITIAL_MMAP_SIZE)
            except OSError:
                if created:
                    os.unlink(filename)
                raise
            finally:
                os.close(fd)
        super().__init__(filename, read_mode)
        if not read_mode:
            self._f = _ReservingFile(self._f)


def install_space_reservation() -> None:
    """Make prometheus_client create its multiprocess files through ``ReservingMmapedDict``.

    Called once in the gunicorn master before any worker forks (workers inherit it). Relies on
    ``prometheus_client.values`` looking ``MmapedDict`` up at call time (true in 0.26, pinned).
    """
    values.MmapedDict = ReservingMmapedDict


class MetricsFault:
    """One process's metrics health: ``None`` while healthy, else the reason, logged once.

    Args:
        directory: the multiprocess directory (named in the log line and the 503 body).
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.reason: str | None = None

    def healthy(self) -> bool:
        """True while this process records metrics."""
        return self.reason is None

    def record(self, error: OSError) -> None:
        """Stop recording metrics in this process; the first call logs the cause."""
        if self.reason is not None:
            return
        cause = error.strerror or str(error)
        self.reason = (
            f"PROMETHEUS_MULTIPROC_DIR={str(self.directory)!r}: {cause}; "
            "this worker serves requests but records no metrics until it restarts"
        )
        log.critical("metrics degraded", reason=self.reason, errno=error.errno)

    def scrape_problem(self) -> str | None:
        """Why ``/metrics`` cannot answer truthfully now, or ``None``.

        The directory vanished (deleted under the server) or this worker is degraded.
        """
        if self.reason is not None:
            return self.reason
        if self.directory is not None and not self.directory.is_dir():
            return (
                f"PROMETHEUS_MULTIPROC_DIR={str(self.directory)!r} is missing; "
                "the gunicorn master recreates it and restarts the workers"
            )
        return None
