"""The gunicorn worker class: gevent, with JSON answers for the requests gunicorn rejects.

Why gevent (``docs/service.md`` has the long form): every connection is a greenlet, not a
thread, so a client that drips its headers or body holds a few KiB of memory instead of one of
a handful of request threads; probes and ``/hello`` keep being answered while dozens of slow
clients are connected (gunicorn issue #3518: the gthread worker gives a connection to a thread
right after accept). The app does no CPU-heavy work per request, which is what a single-threaded
event loop per worker needs. Concurrency per worker is capped by ``worker_connections``.

Requests gunicorn refuses before the app (malformed request line, bad method, 414 URI too
long, 431 header fields too large, ...) normally get an HTML page written by
``gunicorn.util.write_error`` and are logged only on gunicorn's error log. ``JsonErrorWorker``
answers them with the app's JSON error shape, writes one access line (``app.access``) and counts
them under ``route="<rejected>"`` (excluded from the SLIs like ``<unmatched>``).

This module imports gevent; gunicorn imports it in the master when it loads the worker class
(``worker_class`` in ``app.gunicorn_conf``). The monkey-patching happens in each worker after
the fork (``GeventWorker.init_process``), never in the master, whose signal handling and
``waitpid`` stay stock.
"""

from __future__ import annotations

import contextvars
import importlib
import json

from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

from app import metric_names

# Modules gevent's monkey.patch_all() imports in each worker: imported here, in the master,
# before gc.freeze() and the fork, their pages are shared by the workers instead of copied
# into each (PSS, docs/performance.md). Importing patches nothing.
PATCH_MODULES = (
    "concurrent.futures.thread",
    "gevent.events",
    "gevent.local",
    "gevent.select",
    "gevent.selectors",
    "gevent.signal",
    "gevent.ssl",
    "gevent.subprocess",
    "gevent.thread",
    "gevent.threading",
    "gevent.time",
)
for _module in PATCH_MODULES:
    importlib.import_module(_module)

# The request being rejected, as seen by the replacement of util.write_error (a contextvar:
# each greenlet has its own context, so concurrent rejections never see each other's method).
_rejecting: contextvars.ContextVar[tuple[object, object]] = contextvars.ContextVar("rejecting")


def rejection_body(status: int, message: str) -> bytes:
    """The JSON error body of a rejection: the app's shape (``app.errors``), no request id."""
    body = {"error": {"status": status, "message": message, "request_id": ""}}
    return json.dumps(body).encode()


def rejection_response(status: int, reason: str, message: str) -> bytes:
    """The whole HTTP/1.1 response (status line, headers, JSON body) for a rejection.

    ``reason`` comes from gunicorn's fixed table (ASCII); the message is JSON-escaped and never
    reflected as HTML.
    """
    body = rejection_body(status, message or reason)
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrorWorker(GeventWorker):
    """gunicorn's gevent worker whose pre-app rejections are JSON, logged and counted."""

    def init_process(self) -> None:
        """After the fork: route gunicorn's error writer through ``_write_rejection``."""
        # gunicorn.workers.base.handle_error is the only caller of util.write_error; replacing
        # the module attribute (in this worker process only) keeps its status mapping intact.
        util.write_error = self._write_rejection
        super().init_process()

    def handle_error(self, req, client, addr, exc) -> None:
        """Remember which request is being rejected, then let gunicorn map ``exc`` to a status."""
        token = _rejecting.set((req, addr))
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            _rejecting.reset(token)

    def _write_rejection(self, sock, status_int: int, reason: str, mesg: str) -> None:
        req, addr = _rejecting.get((None, None))
        method = getattr(req, "method", None) or metric_names.METHOD_OTHER
        # Log and count first: the client may already be gone, and the write may fail.
        from app.logging import get_logger

        get_logger("app.access").info(
            "request rejected",
            method=method if isinstance(method, str) else metric_names.METHOD_OTHER,
            route=metric_names.ROUTE_REJECTED,
            status=status_int,
            reason=reason,
            message=mesg,
            client=addr[0] if isinstance(addr, tuple) and addr else None,
        )
        request_metrics = self.wsgi.config.get("REQUEST_METRICS")
        fault = self.wsgi.config.get("METRICS_FAULT")
        if request_metrics is not None and (fault is None or fault.healthy()):
            try:
                request_metrics.count_rejected(str(method), status_int)
            except OSError as error:  # a full metrics directory: degrade, never crash
                if fault is not None:
                    fault.record(error)
        util.write_nonblock(sock, rejection_response(status_int, reason, mesg))
