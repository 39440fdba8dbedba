"""Processes of the local stack: the external binaries, children in their own process groups,
the guardian that outlives the runner, the runner's output, and the webhook receiver that stands
in for every Alertmanager receiver.

How children never outlive the runner, whatever ends it:

- each child runs in a session (and process group) of its own, so a terminal's Ctrl-C or
  SIGHUP reaches only the runner, which stops them in order (``LocalStack.stop``);
- on Linux each child asks the kernel for SIGKILL when the runner dies (``PR_SET_PDEATHSIG``
  through ``prctl``). The kernel sends it when the *thread* that forked the child ends, so
  children are started from the main thread only;
- a guardian process (``local.guardian``) learns every child's process group through a pipe
  and, when the pipe closes without a final ``done`` (the runner was SIGKILLed or crashed),
  kills those groups (gunicorn's workers share their master's group) and removes the state
  directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import select
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
    blackbox_exporter: str | None = None
    """The blackbox exporter (``prometheus-blackbox-exporter`` on Debian, ``blackbox_exporter``
    from upstream/Homebrew): the black-box probe of the app (issue 18)."""

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
            blackbox_exporter=shutil.which("prometheus-blackbox-exporter")
            or shutil.which("blackbox_exporter"),
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
    """Run a checker (promtool/amtool); raise ``StackError`` with its output when it fails.

    The checker runs in a session of its own: a Ctrl-C at that moment reaches only the runner
    (which then stops), not the checker, so it cannot fail and blame a valid file.
    """
    result = subprocess.run(  # noqa: S603 - fixed argv
        argv, capture_output=True, text=True, timeout=60, check=False, start_new_session=True
    )
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
        self.arrivals: list[float] = []
        """When each notification arrived (``time.time()``), index-aligned."""
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
            self.arrivals.append(time.time())
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


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` on Linux, ``None`` elsewhere (macOS has no parent-death signal)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None
    return libc.prctl


_PRCTL = _load_prctl()


def die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child receive SIGKILL when ``parent_pid``'s thread ends.

    Looked up before the fork (no imports or allocation in the child); ``None`` where the
    platform has no ``prctl``. If the parent already died between fork and ``prctl``, the
    child exits at once instead of running orphaned.
    """
    prctl = _PRCTL
    if prctl is None:
        return None
    kill = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


class Guardian:
    """The ``local.guardian`` process: cleans up if the runner dies without stopping.

    Args:
        state_dir: the directory it removes after a crash.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.process: subprocess.Popen | None = None

    def start(self) -> Guardian:
        """Start it in a session of its own (terminal signals do not reach it)."""
        self.process = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "local.guardian", str(self.state_dir)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        return self

    def watch(self, pgid: int) -> None:
        """Tell it about a child's process group."""
        self._send(f"pgid {pgid}")

    def done(self) -> None:
        """Everything is stopped and removed: let it exit without doing anything."""
        self._send("done")
        if self.process is not None and self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)

    def _send(self, line: str) -> None:
        if self.process is None or self.process.stdin is None or self.process.stdin.closed:
            return
        with contextlib.suppress(OSError):
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()


class Output:
    """A text stream for the runner's lines that survives a reader going away.

    ``make run | head -n 3``: once ``head`` exits, a write raises ``BrokenPipeError`` (Python
    ignores SIGPIPE). ``Output`` then calls ``on_closed`` once (the stack stops), points the
    file descriptor at ``/dev/null`` (so the interpreter's final flush stays quiet) and drops
    later writes. A closed terminal (EIO) is treated the same way. ``closed_by_reader()``
    notices a reader that left while nothing was being written (``poll`` reports POLLERR on
    a pipe whose read end is closed).

    Args:
        stream: the stream to write to (``sys.stdout``).
        on_closed: called once, with a reason, when the reader is gone.
    """

    def __init__(self, stream: IO[str], on_closed: Callable[[str], None] | None = None) -> None:
        self.stream = stream
        self.on_closed = on_closed
        self.broken = False
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        """Write and flush ``text``; never raises for a vanished reader."""
        with self._lock:
            if self.broken:
                return len(text)
            try:
                self.stream.write(text)
                self.stream.flush()
            except (BrokenPipeError, ValueError) as error:
                self._break(f"output closed ({type(error).__name__})")
            except OSError as error:
                if error.errno not in (errno.EIO, errno.EPIPE):
                    raise
                self._break(f"output closed ({errno.errorcode[error.errno]})")
        return len(text)

    def flush(self) -> None:
        """Writes flush themselves."""

    def isatty(self) -> bool:
        """True when writing to a terminal."""
        try:
            return not self.broken and self.stream.isatty()
        except (OSError, ValueError):
            return False

    def closed_by_reader(self) -> bool:
        """True (and ``on_closed`` called) when the pipe's reader has gone away."""
        if self.broken:
            return True
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError, AttributeError):
            return False
        poller = select.poll()
        poller.register(fd, 0)  # POLLERR/POLLHUP are always reported
        events = poller.poll(0)
        if any(mask & (select.POLLERR | select.POLLHUP) for _fd, mask in events):
            with self._lock:
                self._break("output closed (the reading end of the pipe went away)")
            return True
        return False

    def _break(self, reason: str) -> None:
        self.broken = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        if self.on_closed is not None:
            self.on_closed(reason)


class Child:
    """A child process in its own process group (so a terminal's Ctrl-C reaches only us) that
    dies with the runner (``die_with_parent``). Start it from the main thread.

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
            preexec_fn=die_with_parent(os.getpid()),  # from the main thread only, see above
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

    def group_alive(self) -> bool:
        """True while any process of the child's group (e.g. a gunicorn worker) exists."""
        if self.process is None:
            return False
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

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


def prometheus_ui_links(
    base_url: str, pages: tuple[str, ...] = ("alerts", "targets", "rules", "graph")
) -> dict[str, str]:
    """The URL of each Prometheus UI page that answers on the running server.

    Upstream Prometheus serves its UI at ``/<page>``; Debian's 2.42 build ships only the classic
    UI, under ``/classic/<page>``, and answers 404 at ``/<page>``. Each prefix is tried on the
    first page; the first that answers 2xx is used for all.

    Returns:
        ``{page: url}``, or ``{}`` when neither prefix answers.
    """
    for prefix in ("", "/classic"):
        if http_ok(f"{base_url}{prefix}/{pages[0]}"):
            return {page: f"{base_url}{prefix}/{page}" for page in pages}
    return {}
