"""Per-request plumbing: request id, timing, the access log line and the RED metrics.

``before_request`` binds a request id (a valid incoming ``X-Request-ID``, else a new one) to the
structlog context; ``after_request`` echoes it, writes one access line and observes the metrics;
``teardown_request`` clears the context so the id never reaches another request's lines or
gunicorn's own. The ``route`` label is the matched Flask URL rule or ``<unmatched>``: no
client-controlled string ever becomes a label value.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from flask import Flask, Response, g, request

from app import metric_names
from app.logging import get_logger
from app.metrics import RequestMetrics

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")
"""A valid incoming request id: 1-128 characters of ``A-Za-z0-9._-``."""

access_log = get_logger("app.access")


def request_id_from(header_value: str | None) -> str:
    """The incoming id when valid, else a new random one (32 hex characters)."""
    if header_value and REQUEST_ID_PATTERN.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


def route_of(url_rule: object | None) -> str:
    """The ``route`` label: the URL rule's pattern, or ``<unmatched>`` for no match."""
    return url_rule.rule if url_rule is not None else metric_names.ROUTE_UNMATCHED  # type: ignore[attr-defined]


def register_instrumentation(app: Flask, metrics: RequestMetrics | None) -> None:
    """Install the request hooks on ``app``; ``metrics=None`` turns the RED metrics off."""

    @app.before_request
    def start_request() -> None:
        g.start = time.perf_counter()
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)

    @app.after_request
    def finish_request(response: Response) -> Response:
        start = g.get("start")
        if start is None:  # a failure before start_request ran: nothing to time
            return response
        duration = time.perf_counter() - start
        route = route_of(request.url_rule)
        response.headers[REQUEST_ID_HEADER] = g.request_id
        if metrics is not None:
            metrics.observe(request.method, route, response.status_code, duration)
        access_log.info(
            "request",
            method=request.method,
            path=request.path,
            route=route,
            status=response.status_code,
            duration_seconds=round(duration, 6),
            client=request.remote_addr,
        )
        return response

    @app.teardown_request
    def clear_context(_: BaseException | None) -> None:
        structlog.contextvars.clear_contextvars()
