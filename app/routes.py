"""The API's routes: ``/``, ``/hello``, the probes and ``/metrics``.

All responses are JSON (UTF-8) except ``/metrics`` (Prometheus text exposition).
"""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, current_app, g, jsonify, request

from app import metric_names
from app.errors import error_response
from app.metrics import CONTENT_TYPE_PLAIN_0_0_4, render

bp = Blueprint("api", __name__)

NAME_PATTERN = re.compile(r"[A-Za-z0-9 _-]{1,64}")
"""``/hello?name=``: 1-64 ASCII letters, digits, spaces, ``-`` or ``_``."""

ENDPOINTS = {
    "/": "API information: service, version, environment and endpoints.",
    "/hello": "A greeting with metadata; optional ?name= (1-64 of A-Za-z0-9 space - _).",
    metric_names.ROUTE_HEALTHZ: "Liveness probe: 200 while the process serves requests.",
    metric_names.ROUTE_READINESS: "Readiness probe: 200 once warmed up, 503 while shutting down.",
    metric_names.ROUTE_METRICS: "Prometheus metrics (text exposition format).",
}


@bp.get("/")
def index():
    """API information: service name, version, environment and the endpoints."""
    settings = current_app.config["SETTINGS"]
    return jsonify(
        service="demo-app",
        version=settings.app_version,
        environment=settings.app_env,
        endpoints=ENDPOINTS,
    )


@bp.get("/hello")
def hello():
    """Greeting with metadata; 400 on an invalid ``name``; honours fault injection."""
    settings = current_app.config["SETTINGS"]
    name = request.args.get("name")
    if name is not None and not NAME_PATTERN.fullmatch(name):
        abort(400, description="name must be 1-64 characters of letters, digits, space, - or _")
    # Fault injection (off by default; never enabled in the Kubernetes manifests): demonstrates
    # the error-ratio, latency and burn-rate alerts. random is fine: this is no security control.
    if settings.fault_latency_ratio and random.random() < settings.fault_latency_ratio:  # noqa: S311
        time.sleep(settings.fault_latency_seconds)
    if settings.fault_error_ratio and random.random() < settings.fault_error_ratio:  # noqa: S311
        abort(500, description="injected fault (FAULT_ERROR_RATIO)")
    return jsonify(
        message=f"Hello, {name or 'World'}!",
        hostname=settings.hostname,
        version=settings.app_version,
        environment=settings.app_env,
        timestamp=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        request_id=g.request_id,
    )


@bp.get(metric_names.ROUTE_HEALTHZ)
def healthz():
    """Liveness: no I/O, nothing that blocks."""
    return jsonify(status="ok")


@bp.get(metric_names.ROUTE_READINESS)
def readiness():
    """Readiness: 503 until the minimum uptime has passed and again once shutdown begins."""
    state = current_app.config["SERVER_STATE"]
    if state.shutting_down():
        return jsonify(status="shutting_down"), 503
    uptime = state.uptime_seconds()
    if uptime < state.min_uptime_seconds:
        return jsonify(status="starting", uptime_seconds=round(uptime, 3)), 503
    return jsonify(status="ready", uptime_seconds=round(uptime, 3))


@bp.get(metric_names.ROUTE_METRICS)
def metrics():
    """The Prometheus text exposition of one scrape (fresh registry).

    503 with a JSON reason when the figures cannot be trusted (the multiprocess directory is
    full or missing): Prometheus then records ``up`` 0 rather than wrong counts.
    """
    problem = current_app.config["METRICS_FAULT"].scrape_problem()
    if problem is not None:
        return error_response(503, problem)
    body = render(
        current_app.config["REQUEST_METRICS"],
        current_app.config["SERVER_COLLECTOR"],
        current_app.config["SETTINGS"].multiproc_dir,
    )
    # The 0.0.4 text format: what generate_latest() writes, and what Prometheus 2.x and 3.x read.
    return Response(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)


test_bp = Blueprint("test_only", __name__)


@test_bp.get("/_test/slow")
def slow():
    """Test-only (``DEMO_APP_TEST_ROUTES=true``): sleep ``?seconds=`` (0-30, default 2)."""
    try:
        seconds = float(request.args.get("seconds", "2"))
    except ValueError:
        abort(400, description="seconds must be a number 0-30")
    if not 0 <= seconds <= 30:
        abort(400, description="seconds must be a number 0-30")
    time.sleep(seconds)
    return jsonify(slept_seconds=seconds)


@test_bp.get("/_test/large")
def large():
    """Test-only: ``?bytes=`` (0-256 MiB, default 32 MiB) of ``x``, streamed in 64 KiB chunks:
    a response larger than the socket buffers, for the client-disconnect (499) test."""
    try:
        size = int(request.args.get("bytes", str(32 << 20)))
    except ValueError:
        abort(400, description="bytes must be an integer 0-268435456")
    if not 0 <= size <= 256 << 20:
        abort(400, description="bytes must be an integer 0-268435456")
    chunk = b"x" * 65536

    def body():
        left = size
        while left > 0:
            yield chunk[: min(left, len(chunk))]
            left -= len(chunk)

    return Response(body(), content_type="application/octet-stream")
