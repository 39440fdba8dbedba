"""Processes of the local stack: the external binaries, children in their own process groups,
and the webhook receiver that stands in for every Alertmanager receiver.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

from local.setup import HOST, PORT_ENV, Ports, StackError

ROOT = Path(__file__).resolve().parent.parent


def busy_ports(ports: Ports, names: tuple[str, ...]) -> list[str]:
    """The components among ``names`` whose port on 127.0.0.1 cannot be bound now."""
    busy = []
    for name in names:
        port = getattr(ports, name)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port))
            except OSError:
                option = f"--{name.replace('_', '-')}-port"
                busy.append(f"{name} port {port} ({option} / {PORT_ENV[name]})")
    return busy


@dataclass(frozen=True)
class Binaries:
    """Paths of the external programs, ``None`` when missing."""

    prometheus: str | None
    promtool: str | None
    alertmanager: str | None
    amtool: str | None
    grafana: tuple[str, ...] | None
    """The Grafana server command (``grafana server`` or ``grafana-server``)."""

    @classmethod
    def find(cls) -> Binaries:
        """Look the programs up on PATH."""
        grafana = None
        if shutil.which("grafana"):
            grafana = (shutil.which("grafana") or "grafana", "server")
        elif shutil.which("grafana-server"):
            grafana = (shutil.which("grafana-server") or "grafana-server",)
        return cls(
            prometheus=shutil.which("prometheus"),
            promtool=shutil.which("promtool"),
            alertmanager=shutil.which("prometheus-alertmanager") or shutil.which("alertmanager"),
            amtool=shutil.which("amtool"),
            grafana=grafana,
        )


def gunicorn_command() -> list[str]:
    """The production command, run with the gunicorn of this interpreter's environment."""
    beside = Path(sys.executable).parent / "gunicorn"
    gunicorn = str(beside) if beside.is_file() else shutil.which("gunicorn") or "gunicorn"
    return [gunicorn, "--config", "python:app.gunicorn_conf"]


def grafana_homepath(command: tuple[str, ...]) -> Path | None:
    """Grafana's installation directory (``conf/defaults.ini`` inside), or ``None``.

    ``GRAFANA_HOMEPATH`` wins; else the Debian/RPM location, then the Homebrew layouts beside the
    binary.
    """
    binary = Path(command[0]).resolve()
    candidates = [
        os.environ.get("GRAFANA_HOMEPATH", ""),
        "/usr/share/grafana",
        str(binary.parent.parent / "share" / "grafana"),
        str(binary.parent.parent / "libexec"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "conf" / "defaults.ini").is_file():
            return Path(candidate)
    return None


def check_file(argv: list[str], what: str) -> None:
    """Run a checker (promtool/amtool); raise ``StackError`` with its output when it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603 - fixed argv
    if result.returncode != 0:
        raise StackError(
            f"{what} is invalid ({' '.join(argv)} exited {result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )


class WebhookReceiver:
    """Alertmanager's local receiver: stores every notification and prints it as one JSON line.

    Each line is the notification Alertmanager posted (its webhook payload: ``receiver``,
    ``status``, ``alerts``, ``groupLabels`` ...) plus ``path`` (``/<receiver name>``).

    Args:
        port: TCP port on 127.0.0.1.
        out: where the JSON lines go (``None``: nowhere).
    """

    def __init__(self, port: int, out: IO[str] | None = sys.stdout) -> None:
        self.port = port
        self.notifications: list[dict] = []
        self._out = out
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    payload = json.loads(body)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                receiver._record({"path": self.path, **payload})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                """Silence http.server's access log: the JSON line is the log."""

        self._server = ThreadingHTTPServer((HOST, port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook", daemon=True
        )

    def start(self) -> WebhookReceiver:
        """Serve from a daemon thread; returns ``self``."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def _record(self, notification: dict) -> None:
        line = json.dumps(notification, sort_keys=True) + "\n"
        with self._changed:  # one lock: lines from concurrent posts never interleave
            self.notifications.append(notification)
            self._changed.notify_all()
            if self._out is not None:
                self._out.write(line)
                self._out.flush()

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float) -> dict | None:
        """The first notification matching ``predicate``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for notification in self.notifications:
                    if predicate(notification):
                        return notification
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)


class Child:
    """A child process in its own process group (so a terminal's Ctrl-C reaches only us).

    Output goes to ``log_path`` (or, with ``passthrough``, to our stdout).
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        passthrough: bool = False,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.passthrough = passthrough
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Child:
        """Start the process in a new session (its own process group); returns ``self``."""
        output: IO[bytes] | None = None
        if not self.passthrough:
            self._log = output = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - argv built from found binaries
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int | None:
        """The process id (also its process group id), ``None`` before ``start()``."""
        return None if self.process is None else self.process.pid

    def running(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def returncode(self) -> int | None:
        """The exit status (negative: killed by that signal), ``None`` while running."""
        return None if self.process is None else self.process.poll()

    def terminate(self) -> None:
        """SIGTERM to the group leader only: gunicorn's master drains and stops its workers."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def wait(self, deadline: float, force: threading.Event) -> bool:
        """Wait until the child exits, ``deadline`` (monotonic) passes or ``force`` is set."""
        while self.running() and time.monotonic() < deadline and not force.is_set():
            force.wait(0.05)
        return not self.running()

    def kill(self) -> None:
        """SIGKILL the whole process group (stragglers included) and reap the leader."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the log file ("" when logging to the terminal)."""
        if self.passthrough or not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def http_ok(url: str) -> bool:
    """True when a GET of ``url`` answers 2xx within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own http URL
            return 200 <= response.status < 300
    except (OSError, urllib.error.URLError):
        return False
