"""Start the real production command (gunicorn) for tests, on a free port, and drive it.

Used by the integration tests and the local-stack e2e tests. Bounded waits only: every wait has a
generous timeout and fails with the server's log attached.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
PRODUCTION_ARGS = ("--config", "python:app.gunicorn_conf")

# Variables of the outer environment that would change the server under test.
_SCRUBBED = (
    "PORT",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "APP_ENV",
    "APP_VERSION",
    "PROMETHEUS_MULTIPROC_DIR",
    "DEMO_APP_CGROUP_ROOT",
    "DEMO_APP_SERVER_STARTED_AT",
    "DEMO_APP_MASTER_PID",
    "FAULT_ERROR_RATIO",
    "FAULT_LATENCY_RATIO",
    "POD_NAME",
    "GUNICORN_CMD_ARGS",
    "MAX_REQUESTS",
    "MAX_REQUESTS_JITTER",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GunicornServer:
    """The production server in a child process (its own session, so signals hit only it).

    Args:
        workdir: where the multiprocess directory and the log file go.
        env: extra environment variables (strings).
        multiproc_dir: override, e.g. to restart on the same directory.
        port: override (default: a free port).
    """

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        multiproc_dir: Path | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.multiproc_dir = multiproc_dir or workdir / "multiproc"
        self.log_path = workdir / f"server-{self.port}.log"
        self.env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        self.env.update(
            {
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "PROMETHEUS_MULTIPROC_DIR": str(self.multiproc_dir),
                "READINESS_MIN_UPTIME_SECONDS": "0",
                "SHUTDOWN_DRAIN_SECONDS": "0",
                "LOG_LEVEL": "INFO",
            }
        )
        self.env.update(env or {})
        self.process: subprocess.Popen | None = None
        self.extra_args: list[str] = []  # e.g. another app URI (the benchmark's comparison)
        self.base_url = f"http://127.0.0.1:{self.port}"

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self, wait: bool = True, timeout: float = 30.0) -> GunicornServer:
        """Start gunicorn; with ``wait``, return once ``/healthz`` answers 200."""
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [GUNICORN, *PRODUCTION_ARGS, *self.extra_args],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Wait until ``/healthz`` answers 200 (or fail with the log)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url("/healthz"), timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not healthy within {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Signal the master only (as the kubelet does) and return its exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"server did not exit within {timeout}s:\n{self.log()}") from None

    def kill(self) -> None:
        """SIGKILL the whole process group (cleanup)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def __enter__(self) -> GunicornServer:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
        self._log.close()

    # --- inspection -----------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + path

    def get(self, path: str, **kwargs) -> requests.Response:
        """GET on a new connection (so successive calls may reach different workers)."""
        kwargs.setdefault("timeout", 10)
        return requests.get(self.url(path), **kwargs)

    def worker_pids(self) -> list[int]:
        """The pids of the master's current worker processes."""
        assert self.process is not None
        return [c.pid for c in psutil.Process(self.process.pid).children()]

    def wait_workers(self, count: int, exclude: set[int] = frozenset(), timeout=30.0) -> list[int]:
        """Wait until ``count`` workers other than ``exclude`` run and answer; return pids."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [p for p in self.worker_pids() if p not in exclude]
            if len(pids) == count:
                self.wait_healthy(timeout)
                return pids
            time.sleep(0.1)
        raise AssertionError(f"{count} workers not up within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict]:
        """Every line the server wrote, parsed as JSON (fails on a line that is not JSON)."""
        records = []
        for number, line in enumerate(self.log().splitlines(), 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise AssertionError(f"log line {number} is not JSON: {line!r}") from error
        return records
