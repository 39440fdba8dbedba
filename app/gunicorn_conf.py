"""The production server: gunicorn's configuration and hooks, the one place it is defined.

``make serve``, the container image's CMD and the local stack all run::

    gunicorn --config python:app.gunicorn_conf

Settings come from the environment (``app.settings``). This module, imported once by the gunicorn
master before anything else, prepares what every worker must share:

* ``PROMETHEUS_MULTIPROC_DIR`` is set *before* prometheus_client is imported (its multiprocess
  mode is chosen at import), created if missing, and wiped when the server starts, so a server
  restarted on the same directory starts clean;
* the server's start time and the master's pid go into the environment that every worker,
  respawned ones included, inherits: uptime and readiness count from the master's start;
* ``child_exit`` marks a dead worker's gauge files, as prometheus_client's docs require, and
  folds its counter and histogram files into one aggregate per type (``app.compaction``).

Graceful shutdown. Stock gunicorn closes its listeners at once on SIGTERM. Here the master's
SIGTERM handler instead (1) creates the shutdown marker, so ``/readiness`` answers 503 from every
worker at once, (2) keeps serving new and in-flight requests for ``SHUTDOWN_DRAIN_SECONDS`` (a
second line of defence behind the Deployment's preStop sleep, while endpoints are removed), then
(3) runs gunicorn's normal graceful stop: listeners closed, workers finish in-flight requests
within ``GUNICORN_GRACEFUL_TIMEOUT``, exit status 0. A second SIGTERM skips the rest of the
drain. This replaces ``Arbiter.handle_term`` and wraps ``Arbiter.manage_workers`` (called by the
master loop about once a second), internals of gunicorn 27.0 - which is why gunicorn is pinned.
"""

from __future__ import annotations

import gc
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from app.settings import Settings, SettingsError


def _fail(logger: str, message: str) -> None:
    """Start-up failure: one JSON line (like every line the server writes), then exit 2."""
    import json
    from datetime import UTC, datetime

    line = {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "level": "critical",
        "logger": logger,
        "event": message,
        "pid": os.getpid(),
    }
    print(json.dumps(line), flush=True)
    sys.exit(2)


def _json_excepthook(exc_type, exc, tb) -> None:
    """An uncaught exception in the master (e.g. the preloaded app failing to import) is one
    JSON line with the traceback as a field, not a multi-line traceback: every line the server
    prints is one JSON object. Python then exits 1."""
    import json
    import traceback
    from datetime import UTC, datetime

    line = {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "level": "critical",
        "logger": "app.boot",
        "event": f"server failed: {exc_type.__name__}: {exc}",
        "pid": os.getpid(),
        "exception": "".join(traceback.format_exception(exc_type, exc, tb)),
    }
    print(json.dumps(line), flush=True)


sys.excepthook = _json_excepthook

try:
    _settings = Settings.from_env()
except SettingsError as _error:
    _fail("app.settings", str(_error))

_multiproc_dir = _settings.multiproc_dir or Path(tempfile.gettempdir()) / (
    f"demo-app-metrics-{_settings.port}"
)
try:
    _multiproc_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(_multiproc_dir, os.W_OK | os.X_OK):
        raise PermissionError(f"{_multiproc_dir} is not writable")
except OSError as _error:
    _fail("app.settings", f"PROMETHEUS_MULTIPROC_DIR={str(_multiproc_dir)!r}: unusable: {_error}")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_multiproc_dir)
# setdefault: a configuration reload (SIGHUP) re-imports this module but is no restart.
os.environ.setdefault("DEMO_APP_SERVER_STARTED_AT", repr(time.time()))
os.environ.setdefault("DEMO_APP_MASTER_PID", str(os.getpid()))

from prometheus_client import multiprocess  # noqa: E402 - must follow PROMETHEUS_MULTIPROC_DIR

from app import compaction, container  # noqa: E402
from app.lifecycle import CPU_SAMPLES, SHUTDOWN_MARKER  # noqa: E402
from app.logging import gunicorn_logconfig  # noqa: E402
from app.metrics_dir import install_space_reservation  # noqa: E402

# A full metrics filesystem must raise ENOSPC in Python, never SIGBUS (app.metrics_dir).
install_space_reservation()

# --- gunicorn settings ---------------------------------------------------------------------------
wsgi_app = "app:create_app()"
bind = [f"{_settings.host}:{_settings.port}"]
workers = _settings.web_concurrency
# gevent (app.worker): a connection is a greenlet, not one of a few threads, so slow or stuck
# clients cannot starve probes and requests (gunicorn #3518; docs/service.md, "Worker model").
worker_class = "app.worker.JsonErrorWorker"
# Connections each worker serves at once (gunicorn's default, stated): 2 workers x 1000 leaves
# room for ~100 slow clients, 256 idle keep-alive connections and the real traffic.
worker_connections = 1000
# Load the app once in the master: workers share its pages (copy-on-write), which keeps the pod's
# memory - and so the HPA's memory utilization - low. prometheus_client resets its values on fork.
preload_app = True
timeout = 30
graceful_timeout = math.ceil(_settings.graceful_timeout_seconds)
keepalive = 5
# The app writes one access line per request itself (route, request id); gunicorn's is off.
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
logconfig_dict = gunicorn_logconfig(_settings.log_level)
# Recycling (off by default): a worker exits after max_requests + randint(0, jitter) requests.
# Safe with the metrics since child_exit compacts its files (app.compaction, docs/service.md).
max_requests = _settings.max_requests
max_requests_jitter = _settings.max_requests_jitter
# gunicorn 27's control socket starts a thread and a socket file in the master: not needed.
control_socket_disable = True
proc_name = "demo-app"

_CPU_SAMPLE_INTERVAL_SECONDS = 5.0


def on_starting(server) -> None:
    """Master start, before binding: install the SIGTERM drain."""
    _install_drain(server, _sample_cpu)


def when_ready(server) -> None:
    """Listeners bound, no worker forked yet: empty the multiprocess directory, CPU baseline,
    freeze the garbage collector's view of the preloaded app.

    Not in ``on_starting``: that runs before the bind, and a second server started by mistake on
    a busy port would wipe the running server's metrics before failing to bind.
    """
    for entry in _multiproc_dir.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    _sample_cpu()
    # Move everything the preloaded app allocated to the permanent generation right before the
    # workers fork: the collector then never touches (and so never copies) those shared pages.
    # Measured with `make bench`'s PSS figure: 69 -> 52 MiB for master + 2 workers after
    # traffic. Source: the Python docs of gc.freeze() (fork without exec, copy-on-write).
    gc.collect()
    gc.freeze()
    server.log.info(
        "server ready",
        extra={
            "multiproc_dir": str(_multiproc_dir),
            "workers": workers,
            "worker_class": worker_class,
            "worker_connections": worker_connections,
        },
    )


def _sample_cpu() -> None:
    """Record a CPU sample for the shared CPU window (at start and every few seconds)."""
    try:
        figures = container.read_figures(
            _settings.cgroup_root, int(os.environ["DEMO_APP_MASTER_PID"])
        )
    except Exception:  # a malformed cgroup file must not stop the master; the scrape
        return  # drops the figure, counts and logs it (ServerCollector)
    container.CpuWindow(_multiproc_dir / CPU_SAMPLES).record(figures.cpu_usage_seconds)


def post_worker_init(worker) -> None:
    """In each worker, after the fork: its request series start at 0 in its own file."""
    from app import prime_request_metrics

    # Priming creates this worker's files; no scrape may read one before it is sized.
    try:
        with compaction.exclusive_lock(_multiproc_dir):
            prime_request_metrics(worker.wsgi)
    except compaction.CompactionBusy:  # a scrape stuck for 2 s: prime anyway, as before
        prime_request_metrics(worker.wsgi)
    except FileNotFoundError:
        # The directory was deleted: the master recreates it (_check_multiproc_dir); until
        # then this worker serves with metrics degraded (app.metrics_dir) instead of failing
        # to boot, which would stop the whole server.
        prime_request_metrics(worker.wsgi)


def child_exit(server, worker) -> None:
    """A worker exited (normally, recycled or killed): retire its live-gauge files, fold its
    counter and histogram files into the aggregates (``app.compaction``)."""
    multiprocess.mark_process_dead(worker.pid, str(_multiproc_dir))
    # The master's main loop, right after waitpid and before any new fork: the live workers
    # and the master are kept, every other pid's files (this one's, leftovers) are folded in.
    try:
        done = compaction.compact(_multiproc_dir, keep_pids={*server.WORKERS, os.getpid()})
    except Exception as error:  # never let the master's loop die; the files stay, retried
        server.log.error("compaction of dead workers' metrics files failed (retried): %r", error)
    else:
        server.log.debug("compacted metrics files of dead workers %s", list(done.pids))


def _install_drain(server, sample_cpu) -> None:
    """Replace the master's SIGTERM handling with mark-unready, drain, then graceful stop."""
    original_manage_workers = server.manage_workers
    drain = {"deadline": None, "next_sample": 0.0}

    def handle_term() -> None:
        if drain["deadline"] is not None:
            server.log.info("second SIGTERM: ending the drain now")
            raise StopIteration
        try:
            _multiproc_dir.mkdir(parents=True, exist_ok=True)  # it may have been deleted
            (_multiproc_dir / SHUTDOWN_MARKER).touch()
        except OSError as error:
            # Readiness cannot flip (the workers read the marker), but the drain and the
            # graceful stop still run and the exit status stays 0.
            server.log.error("SIGTERM: cannot create the shutdown marker: %s", error)
        drain["deadline"] = time.monotonic() + _settings.shutdown_drain_seconds
        server.log.info(
            "SIGTERM: readiness now 503; serving for %.1f s, then stopping gracefully",
            _settings.shutdown_drain_seconds,
        )

    def manage_workers() -> None:
        now = time.monotonic()
        if drain["deadline"] is not None and now >= drain["deadline"]:
            server.log.info("drain over: closing listeners, stopping workers gracefully")
            raise StopIteration  # gunicorn's run loop answers with halt(): a graceful stop
        original_manage_workers()
        _check_multiproc_dir(server)
        if now >= drain["next_sample"]:
            drain["next_sample"] = now + _CPU_SAMPLE_INTERVAL_SECONDS
            sample_cpu()

    server.handle_term = handle_term
    server.manage_workers = manage_workers


def _check_multiproc_dir(server) -> None:
    """Recreate a deleted multiprocess directory and restart the workers (once a second).

    Workers keep writing into their files' mappings after the directory is deleted, so their
    counts would silently vanish from every later scrape: they are stopped gracefully (in-flight
    requests finish) and the respawned ones create fresh files in the new directory. Counters
    restart from 0, which ``rate()``/``increase()`` read as a reset. Between the deletion and
    the restart ``/metrics`` answers 503 (``MetricsFault.scrape_problem``).
    """
    if _multiproc_dir.is_dir():
        return
    try:
        _multiproc_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        server.log.critical(
            "PROMETHEUS_MULTIPROC_DIR=%r vanished and cannot be recreated: %s",
            str(_multiproc_dir),
            error,
        )
        return
    server.log.error(
        "PROMETHEUS_MULTIPROC_DIR=%r vanished: recreated; restarting workers so their counts "
        "go to the new directory (counters restart from 0)",
        str(_multiproc_dir),
    )
    for pid in list(server.WORKERS):
        server.kill_worker(pid, signal.SIGTERM)
