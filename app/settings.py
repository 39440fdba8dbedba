"""Typed application settings, read once from the environment and validated.

Only this module reads ``os.environ``. ``Settings.from_env()`` collects every bad variable and
raises one ``SettingsError`` that names them all, so a misconfigured pod fails at start-up with a
message that says what to fix. Tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ENV_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class SettingsError(ValueError):
    """Raised when one or more environment variables are invalid; the message lists each one."""


@dataclass(frozen=True)
class Settings:
    """Everything the app and its server are configured with.

    Attributes:
        port: TCP port gunicorn binds (``PORT``, 1-65535, default 5000).
        host: address gunicorn binds (``HOST``, an IPv4/IPv6 address or ``localhost``;
            default ``0.0.0.0``; the local stack uses ``127.0.0.1``).
        web_concurrency: gunicorn worker processes (``WEB_CONCURRENCY``, default 2). Never
            derived from the host's CPU count, which on a node far exceeds the pod's share.
        threads: threads per gthread worker (``GUNICORN_THREADS``, default 4); unused by the
            production gevent worker (``app.worker``), kept for a gthread fallback.
        graceful_timeout_seconds: gunicorn's graceful timeout after the drain
            (``GUNICORN_GRACEFUL_TIMEOUT``, default 10).
        app_env: deployment environment name (``APP_ENV``, default ``development``).
        app_version: version reported by ``/`` and ``demo_app_info`` (``APP_VERSION``).
        readiness_min_uptime_seconds: ``/readiness`` answers 503 until the server has been up
            this long (``READINESS_MIN_UPTIME_SECONDS``, default 5).
        shutdown_drain_seconds: after SIGTERM, keep serving this long while readiness reports
            503 (``SHUTDOWN_DRAIN_SECONDS``, default 5).
        log_level: ``LOG_LEVEL``, one of DEBUG, INFO, WARNING, ERROR, CRITICAL (default INFO).
        multiproc_dir: prometheus_client's multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``);
            ``None`` outside gunicorn (single process, e.g. the test client).
        cgroup_root: where the container's cgroup files are read (``DEMO_APP_CGROUP_ROOT``,
            default ``/sys/fs/cgroup``).
        hostname: reported by ``/hello``: ``POD_NAME`` (downward API) or the host name.
        metrics_enabled: request instrumentation on/off (``METRICS_ENABLED``, default true;
            off exists for the benchmark's baseline).
        test_routes_enabled: registers ``/_test/slow`` (``DEMO_APP_TEST_ROUTES``, default
            false); never on in the manifests.
        fault_error_ratio: share 0-1 of ``/hello`` requests that fail with 500
            (``FAULT_ERROR_RATIO``, default 0: off).
        fault_latency_ratio: share 0-1 of ``/hello`` requests delayed (``FAULT_LATENCY_RATIO``).
        fault_latency_seconds: the injected delay, seconds (``FAULT_LATENCY_SECONDS``, 0-30).
        server_started_at: Unix time (seconds) the gunicorn master started; set by the server
            config (``DEMO_APP_SERVER_STARTED_AT``), ``None`` = the app's own creation time.
        master_pid: the gunicorn master's pid (``DEMO_APP_MASTER_PID``), ``None`` = this process.
        max_requests: recycle a worker after this many requests (``MAX_REQUESTS``, 0-10,000,000,
            default 0: off); gunicorn's ``max_requests``. Safe for the metrics: a recycled
            worker's counts are compacted into the aggregate (``app.compaction``).
        max_requests_jitter: add ``randint(0, jitter)`` requests per worker
            (``MAX_REQUESTS_JITTER``, default 0), so workers do not all recycle at once; needs
            ``MAX_REQUESTS``.
    """

    port: int = 5000
    host: str = "0.0.0.0"  # noqa: S104 - a pod listens on all its interfaces
    web_concurrency: int = 2
    threads: int = 4
    graceful_timeout_seconds: float = 10.0
    app_env: str = "development"
    app_version: str = "1.0.0"
    readiness_min_uptime_seconds: float = 5.0
    shutdown_drain_seconds: float = 5.0
    log_level: str = "INFO"
    multiproc_dir: Path | None = None
    cgroup_root: Path = Path("/sys/fs/cgroup")
    hostname: str = field(default_factory=socket.gethostname)
    metrics_enabled: bool = True
    test_routes_enabled: bool = False
    fault_error_ratio: float = 0.0
    fault_latency_ratio: float = 0.0
    fault_latency_seconds: float = 0.0
    server_started_at: float | None = None
    master_pid: int | None = None
    max_requests: int = 0
    max_requests_jitter: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``).

        Raises:
            SettingsError: listing every invalid variable with its value and what it must be.
        """
        env = os.environ if environ is None else environ
        errors: list[str] = []
        values: dict[str, Any] = {}

        def read(attr: str, var: str, parse: Callable[[str], Any], what: str) -> None:
            raw = env.get(var)
            if raw is None or raw == "":
                return
            try:
                values[attr] = parse(raw.strip())
            except ValueError:
                errors.append(f"{var}={raw!r}: must be {what}")

        read("port", "PORT", _int_between(1, 65535), "an integer 1-65535")
        read("host", "HOST", _bind_address, "an IP address or localhost")
        read("web_concurrency", "WEB_CONCURRENCY", _int_between(1, 64), "an integer 1-64")
        read("threads", "GUNICORN_THREADS", _int_between(1, 64), "an integer 1-64")
        read(
            "graceful_timeout_seconds",
            "GUNICORN_GRACEFUL_TIMEOUT",
            _float_between(0, 300),
            "a number of seconds 0-300",
        )
        read("app_env", "APP_ENV", _matching(_ENV_NAME), "1-64 characters of A-Za-z0-9._-")
        read("app_version", "APP_VERSION", _matching(_ENV_NAME), "1-64 characters of A-Za-z0-9._-")
        read(
            "readiness_min_uptime_seconds",
            "READINESS_MIN_UPTIME_SECONDS",
            _float_between(0, 3600),
            "a number of seconds 0-3600",
        )
        read(
            "shutdown_drain_seconds",
            "SHUTDOWN_DRAIN_SECONDS",
            _float_between(0, 300),
            "a number of seconds 0-300",
        )
        read("log_level", "LOG_LEVEL", _log_level, "one of " + ", ".join(LOG_LEVELS))
        read("multiproc_dir", "PROMETHEUS_MULTIPROC_DIR", Path, "a directory path")
        read("cgroup_root", "DEMO_APP_CGROUP_ROOT", Path, "a directory path")
        read("hostname", "POD_NAME", _matching(re.compile(r"^\S{1,253}$")), "a pod name")
        read("metrics_enabled", "METRICS_ENABLED", _boolean, "true or false")
        read("test_routes_enabled", "DEMO_APP_TEST_ROUTES", _boolean, "true or false")
        read("fault_error_ratio", "FAULT_ERROR_RATIO", _float_between(0, 1), "a ratio 0-1")
        read("fault_latency_ratio", "FAULT_LATENCY_RATIO", _float_between(0, 1), "a ratio 0-1")
        read(
            "fault_latency_seconds",
            "FAULT_LATENCY_SECONDS",
            _float_between(0, 30),
            "a number of seconds 0-30",
        )
        read(
            "server_started_at",
            "DEMO_APP_SERVER_STARTED_AT",
            _float_between(0, 1e11),
            "a Unix time in seconds",
        )
        read("master_pid", "DEMO_APP_MASTER_PID", _int_between(1, 2**22), "a process id")
        read("max_requests", "MAX_REQUESTS", _int_between(0, 10**7), "an integer 0-10000000")
        read(
            "max_requests_jitter",
            "MAX_REQUESTS_JITTER",
            _int_between(0, 10**7),
            "an integer 0-10000000",
        )
        if values.get("max_requests_jitter") and not values.get("max_requests"):
            errors.append(
                f"MAX_REQUESTS_JITTER={env['MAX_REQUESTS_JITTER']!r}: needs MAX_REQUESTS > 0"
            )

        if errors:
            raise SettingsError("invalid environment:\n  " + "\n  ".join(errors))
        return dataclasses.replace(cls(), **values)


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(raw)
        return value

    return parse


def _float_between(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not low <= value <= high:  # also rejects NaN
            raise ValueError(raw)
        return value

    return parse


def _matching(pattern: re.Pattern[str]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not pattern.match(raw):
            raise ValueError(raw)
        return raw

    return parse


def _bind_address(raw: str) -> str:
    if raw == "localhost":
        return raw
    address = ipaddress.ip_address(raw.strip("[]"))  # ValueError when not an address
    return f"[{address}]" if address.version == 6 else str(address)


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ValueError(raw)
    return level


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)
