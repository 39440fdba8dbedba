"""JSON error responses for every HTTP error: never an HTML page, never a traceback.

Shape: ``{"error": {"status": <int>, "message": "...", "request_id": "..."}}``.
"""

from __future__ import annotations

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from app.logging import get_logger

log = get_logger("app.errors")


def error_response(status: int, message: str) -> tuple[Response, int]:
    """Build the JSON error body for ``status`` with a human-readable ``message``."""
    body = {
        "error": {
            "status": status,
            "message": message,
            "request_id": g.get("request_id", ""),
        }
    }
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    """Render every ``HTTPException`` and any unhandled exception as a JSON error."""

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException):
        response, status = error_response(exc.code or 500, exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response, status

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        # The traceback goes to the log (JSON, one line), never to the client.
        log.exception("unhandled exception", exc_type=type(exc).__name__)
        return error_response(500, InternalServerError.description)
