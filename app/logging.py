"""JSON logging for everything the server writes: app, gunicorn's error log, start-up, shutdown.

One processor pipeline (structlog): shared processors add ``timestamp`` (ISO 8601, UTC),
``level`` and ``logger``, and merge the request context (``request_id``) from contextvars;
one renderer (JSON) comes last. Records from the standard library (gunicorn, werkzeug) go through
``structlog.stdlib.ProcessorFormatter`` with the same processors, so every line is one JSON
object with ``timestamp``, ``level``, ``logger`` and ``event``.

``configure_logging(level)`` sets this up in a process; ``gunicorn_logconfig(level)`` returns the
``logging.config.dictConfig`` mapping that gunicorn's ``logconfig_dict`` setting applies.
"""

from __future__ import annotations

import logging
import logging.config
import os
from typing import Any

import structlog


def add_pid(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Add ``pid``: which gunicorn process (master or worker) wrote the line."""
    event_dict["pid"] = os.getpid()
    return event_dict


_SHARED_PROCESSORS: tuple[Any, ...] = (
    structlog.contextvars.merge_contextvars,
    add_pid,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
)


def formatter_config() -> dict[str, Any]:
    """The ``dictConfig`` formatter entry that renders stdlib records as JSON."""
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        # ExtraAdder: a stdlib record's ``extra={...}`` fields become JSON keys.
        "foreign_pre_chain": [*_SHARED_PROCESSORS, structlog.stdlib.ExtraAdder()],
    }


def gunicorn_logconfig(level: str) -> dict[str, Any]:
    """``dictConfig`` mapping for gunicorn's ``logconfig_dict``: every logger to JSON on stdout.

    Args:
        level: a stdlib level name such as ``"INFO"``.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": formatter_config()},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"level": level, "handlers": ["stdout"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stdout"], "propagate": False},
            # The app writes its own access line (with route and request id); gunicorn's is off.
            "gunicorn.access": {"level": "WARNING", "handlers": ["stdout"], "propagate": False},
            "werkzeug": {"level": "WARNING"},
        },
    }


def configure_logging(level: str = "INFO") -> None:
    """Configure structlog and the standard library to write JSON lines to stdout.

    Idempotent; safe to call in every worker. ``level`` is a stdlib level name.
    """
    logging.config.dictConfig(gunicorn_logconfig(level))
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger whose lines carry ``logger=name``."""
    return structlog.stdlib.get_logger(name)
