"""The demo-app Flask service.

``create_app(settings)`` is the application factory: it wires the routes, JSON errors, request
instrumentation, logging and the metrics exposition. Nothing but definitions runs at import.
gunicorn loads it as ``app:create_app()`` (see ``app/gunicorn_conf.py``, which sets
``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client is first imported, as its multiprocess
mode requires).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app.

    Args:
        settings: the configuration; ``None`` reads and validates the environment.

    Raises:
        app.settings.SettingsError: the environment holds invalid values (only when
            ``settings`` is ``None``).
    """
    # Imported here, not at module level: importing the ``app`` package (as the gunicorn config
    # does for ``app.settings``) must not import prometheus_client before the config has set
    # PROMETHEUS_MULTIPROC_DIR, which prometheus_client reads once, at import.
    from flask import Flask

    from app import container, metrics, routes
    from app.errors import register_error_handlers
    from app.instrumentation import register_instrumentation
    from app.lifecycle import CPU_SAMPLES, ServerState
    from app.logging import configure_logging
    from app.metrics_dir import MetricsFault
    from app.settings import Settings

    settings = Settings.from_env() if settings is None else settings
    configure_logging(settings.log_level)

    app = Flask(__name__, static_folder=None)  # an API: no static route to match
    app.json.sort_keys = False  # type: ignore[attr-defined]
    state = ServerState(
        started_at=settings.server_started_at or time.time(),
        min_uptime_seconds=settings.readiness_min_uptime_seconds,
        state_dir=settings.multiproc_dir,
    )
    # Under gunicorn the CPU samples are shared through the multiprocess directory; in a single
    # process (test client) they stay in memory.
    state_dir = settings.multiproc_dir
    cpu_window = container.CpuWindow(state_dir / CPU_SAMPLES if state_dir else None)
    master_pid = settings.master_pid or os.getpid()
    # A baseline now (the gunicorn master records one too), so the first scrape already
    # reports a real CPU figure.
    # A malformed cgroup file must not stop the app: each scrape drops, counts and logs it.
    with contextlib.suppress(Exception):
        cpu_window.record(
            container.read_figures(settings.cgroup_root, master_pid).cpu_usage_seconds
        )
    request_metrics = metrics.RequestMetrics.create() if settings.metrics_enabled else None
    # This process's metrics health (a full or vanished multiprocess directory degrades it).
    metrics_fault = MetricsFault(settings.multiproc_dir)
    app.config.update(
        SETTINGS=settings,
        SERVER_STATE=state,
        REQUEST_METRICS=request_metrics,
        METRICS_FAULT=metrics_fault,
        SERVER_COLLECTOR=metrics.ServerCollector(
            state=state,
            version=settings.app_version,
            env=settings.app_env,
            cgroup_root=settings.cgroup_root,
            cpu_window=cpu_window,
            master_pid=master_pid,
        ),
    )

    register_instrumentation(app, request_metrics, metrics_fault)
    register_error_handlers(app)
    app.register_blueprint(routes.bp)
    if settings.test_routes_enabled:
        app.register_blueprint(routes.test_bp)
    if request_metrics is not None and settings.multiproc_dir is None:
        # One process serves (test client, flask run): its series start at 0 now. Under
        # gunicorn each worker primes its own after the fork (gunicorn_conf.post_worker_init).
        prime_request_metrics(app)
    return app


def prime_request_metrics(app: Flask) -> None:
    """Start the app's GET request series at 0 (see ``RequestMetrics.prime``); no-op when off.

    A metrics directory without room for this process's files (``OSError``, e.g. ENOSPC)
    degrades the process (``app.config["METRICS_FAULT"]``) instead of failing it: it serves
    requests, ``/metrics`` answers 503 with the reason.
    """
    request_metrics = app.config["REQUEST_METRICS"]
    try:
        app.config["SERVER_COLLECTOR"].prime()
        if request_metrics is not None:
            request_metrics.prime(rule.rule for rule in app.url_map.iter_rules())
    except OSError as error:
        app.config["METRICS_FAULT"].record(error)
