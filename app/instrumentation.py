"""Per-request plumbing: request id, timing, the access log line and the RED metrics.

``before_request`` binds a request id (a valid incoming ``X-Request-ID``, else a new one) to the
structlog context; ``after_request`` echoes it and notes what the request was (method, route,
status, start); ``teardown_request`` clears the context so the id never reaches another
request's lines or gunicorn's own. The ``route`` label is the matched Flask URL rule or
``<unmatched>``: no client-controlled string ever becomes a label value.

A request is counted, and its access line written, only once its response has been handed to
the client: ``DeliveryMiddleware`` wraps the WSGI response, and its ``close()`` (which the
server calls after the last write, or after a failed one) records it. A response the server
could not finish writing (the client went away) counts with status ``499`` (nginx's
convention), its duration still in the latency histogram. So a worker killed with -9 loses at
most the requests it had in flight, and the counters never run ahead of what clients received.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator

import structlog
from flask import Flask, Response, g, request

from app import metric_names
from app.logging import get_logger
from app.metrics import RequestMetrics
from app.metrics_dir import MetricsFault

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")
"""A valid incoming request id: 1-128 characters of ``A-Za-z0-9._-``."""

access_log = get_logger("app.access")

_OBSERVATION = "demo_app.observation"
"""WSGI environ key where ``after_request`` leaves (method, route, status, start, request id,
path, client) for ``DeliveryMiddleware``."""


def request_id_from(header_value: str | None) -> str:
    """The incoming id when valid, else a new random one (32 hex characters)."""
    if header_value and REQUEST_ID_PATTERN.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


def route_of(url_rule: object | None) -> str:
    """The ``route`` label: the URL rule's pattern, or ``<unmatched>`` for no match."""
    return url_rule.rule if url_rule is not None else metric_names.ROUTE_UNMATCHED  # type: ignore[attr-defined]


def register_instrumentation(
    app: Flask, metrics: RequestMetrics | None, fault: MetricsFault | None = None
) -> None:
    """Install the request hooks on ``app``; ``metrics=None`` turns the RED metrics off.

    ``fault`` is this process's metrics health: while degraded, requests are served and logged
    but not counted (a full metrics directory must not crash the worker).
    """

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
        response.headers[REQUEST_ID_HEADER] = g.request_id
        request.environ[_OBSERVATION] = (
            request.method,
            route_of(request.url_rule),
            response.status_code,
            start,
            g.request_id,
            request.path,
            request.remote_addr,
        )
        return response

    @app.teardown_request
    def clear_context(_: BaseException | None) -> None:
        structlog.contextvars.clear_contextvars()

    app.wsgi_app = DeliveryMiddleware(app.wsgi_app, metrics, fault)  # type: ignore[method-assign]


class DeliveryMiddleware:
    """WSGI middleware: count and log each request when its response has been delivered.

    Args:
        wsgi_app: the Flask WSGI callable.
        metrics: the RED metrics, or ``None`` (off).
        fault: the process's metrics health, or ``None`` (always healthy).
    """

    def __init__(
        self,
        wsgi_app: Callable[..., Iterable[bytes]],
        metrics: RequestMetrics | None,
        fault: MetricsFault | None,
    ) -> None:
        self.wsgi_app = wsgi_app
        self.metrics = metrics
        self.fault = fault

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return _TrackedResponse(self, environ, self.wsgi_app(environ, start_response))

    def record(self, environ: dict, delivered: bool) -> None:
        """Count and log the request of ``environ`` (no-op if the app never timed it)."""
        observation = environ.pop(_OBSERVATION, None)
        if observation is None:
            return
        method, route, status, start, request_id, path, client = observation
        duration = time.perf_counter() - start
        if not delivered:
            status = int(metric_names.STATUS_CLIENT_CLOSED)
        if self.metrics is not None and (self.fault is None or self.fault.healthy()):
            try:
                self.metrics.observe(method, route, status, duration)
            except OSError as error:  # no room to grow the metrics file: degrade, keep serving
                if self.fault is None:
                    raise
                self.fault.record(error)
        access_log.info(
            "request",
            request_id=request_id,
            method=method,
            path=path,
            route=route,
            status=status,
            duration_seconds=round(duration, 6),
            client=client,
        )


class _TrackedResponse:
    """The app's response iterable; knows whether the server wrote all of it.

    The server iterates, writing each chunk, then calls ``close()``. Reaching the end of the
    iteration means every chunk was written; a failed write (client gone) ends the loop early
    and goes straight to ``close()``.
    """

    def __init__(self, owner: DeliveryMiddleware, environ: dict, inner: Iterable[bytes]) -> None:
        self._owner = owner
        self._environ = environ
        self._inner = inner
        self._finished = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner
        self._finished = True

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._owner.record(self._environ, delivered=self._finished)
