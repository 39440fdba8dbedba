"""Capture servers for what leaves the system (Slack, PagerDuty, heartbeat webhooks, SMTP) and a
real Alertmanager (or Prometheus) process for the e2e notification tests.

Everything listens on 127.0.0.1 on free ports; every wait is bounded.
"""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import require_binary
from tests.support.server import free_port

HINT = "apt-get install prometheus-alertmanager"


@dataclass
class Request:
    """A captured HTTP request: ``path``, ``body`` (parsed JSON), arrival ``at`` (monotonic)."""

    path: str
    body: Any
    at: float


class HttpCapture:
    """An HTTP server recording every POST (JSON body) and answering 200 (Slack: ``ok``)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[Request] = []
        self._changed = threading.Condition()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    parsed = json.loads(body) if body else None
                except ValueError:
                    parsed = body.decode(errors="replace")
                with capture._changed:
                    capture.requests.append(Request(self.path, parsed, time.monotonic()))
                    capture._changed.notify_all()
                answer = b'{"status": "success"}' if "pagerduty" in self.path else b"ok"
                self.send_response(202 if "pagerduty" in self.path else 200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        """``http://127.0.0.1:<port><path>``."""
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(
        self, predicate: Callable[[Request], bool], count: int = 1, timeout: float = 20
    ) -> list[Request]:
        """The first ``count`` requests matching ``predicate``; fails after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [r for r in self.requests if predicate(r)]
                if len(found) >= count:
                    return found[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(r.path, r.body) for r in self.requests]
                    raise AssertionError(f"{count} matching request(s) not seen; got {seen}")
                self._changed.wait(remaining)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


class SmtpCapture:
    """An SMTP server (aiosmtpd) that accepts AUTH PLAIN/LOGIN without TLS and keeps each
    message, parsed, with the credentials it was sent with."""

    def __init__(self, username: str, password: str) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.logins: list[tuple[str, str]] = []
        self._changed = threading.Condition()
        capture = self

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                with capture._changed:
                    capture.messages.append(message)  # type: ignore[arg-type]
                    capture._changed.notify_all()
                return "250 OK"

        def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
            if isinstance(auth_data, LoginPassword):
                login = (auth_data.login.decode(), auth_data.password.decode())
                capture.logins.append(login)
                return AuthResult(success=login == (username, password))
            return AuthResult(success=False)

        self._controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_require_tls=False,
            # Alertmanager picks the first mechanism offered; its LOGIN client expects the
            # "Username:" prompt, aiosmtpd's differs. PLAIN is what SMTP relays (SES) use.
            auth_exclude_mechanism=["LOGIN"],
        )
        self._controller.start()

    def wait_for(
        self, predicate: Callable[[EmailMessage], bool], timeout: float = 20
    ) -> EmailMessage:
        """The first message matching ``predicate``; fails after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    subjects = [m["Subject"] for m in self.messages]
                    raise AssertionError(f"no matching email; got subjects {subjects}")
                self._changed.wait(remaining)

    def stop(self) -> None:
        """Stop the server."""
        self._controller.stop()


@dataclass
class Process:
    """A started server process, its base URL and log file."""

    process: subprocess.Popen
    base_url: str
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def wait_ready(self, path: str = "/-/ready", timeout: float = 30) -> None:
        """Poll ``base_url + path`` until 200; fails with the log tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(self.base_url + path, timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.base_url} not ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_alertmanager(config_file: Path, workdir: Path, external_url: str) -> Process:
    """A real Alertmanager (Debian: ``prometheus-alertmanager``) on a free port, clustering off."""
    binary = require_binary("prometheus-alertmanager", "/usr/bin/alertmanager", hint=HINT)
    port = free_port()
    log = workdir / "alertmanager.log"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.path={workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url={external_url}",
            # The route prefix defaults to the external URL's path ("/" here): links use the
            # external URL, the API answers on the listen address.
            "--cluster.listen-address=",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    am = Process(process, f"http://127.0.0.1:{port}", log)
    am.wait_ready()
    return am


def post_alerts(alertmanager_url: str, alerts: list[dict]) -> None:
    """POST ``alerts`` to Alertmanager's API v2 (``/api/v2/alerts``)."""
    response = requests.post(f"{alertmanager_url}/api/v2/alerts", json=alerts, timeout=10)
    response.raise_for_status()


def alert_states(alertmanager_url: str) -> dict[tuple[str, str], str]:
    """``(alertname, namespace) -> state`` ("active", "suppressed") of every alert held."""
    got = requests.get(f"{alertmanager_url}/api/v2/alerts", timeout=10).json()
    return {
        (a["labels"]["alertname"], a["labels"].get("namespace", "")): a["status"]["state"]
        for a in got
    }
