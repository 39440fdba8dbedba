"""Hostile clients and a prober, for the slow-client test and ``make bench``.

The attacker model (issue 12): ``headers`` connections that send a request line and then one
header line every ``interval`` seconds, plus ``bodies`` connections that send complete headers
with ``Content-Length: 100000`` and then one body byte every ``interval``; all opened at once,
kept open for the whole run, each reconnecting at once when the server closes it. The attacker
runs in its own process (``python -m tests.support.slow_clients``) so that it competes with the
server for the CPU, not with the prober for the GIL.

The prober asks each path every ``period`` seconds with its own timeout, on a new connection
each time (as the kubelet does), and reports the share answered with 200.
"""

from __future__ import annotations

import argparse
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests

PROBE_TIMEOUTS = {"/healthz": 1.0, "/readiness": 1.0, "/hello": 2.0}
"""Path -> timeout in seconds (the issue's prober: 1 s for the probes, 2 s for /hello)."""


@dataclass
class _Slow:
    kind: str  # "header" or "body"
    sock: socket.socket | None = None
    sent: int = 0


def _connect(host: str, port: int, slow: _Slow) -> None:
    sock = socket.create_connection((host, port), timeout=5)
    sock.setblocking(False)
    if slow.kind == "header":
        head = b"GET /hello HTTP/1.1\r\nHost: attacker\r\n"
    else:
        head = (
            b"POST /hello HTTP/1.1\r\nHost: attacker\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 100000\r\n\r\n"
        )
    sock.sendall(head)
    slow.sock, slow.sent = sock, 0


def attack(
    host: str, port: int, seconds: float, headers: int = 64, bodies: int = 16, interval=0.5
) -> dict[str, int]:
    """Run the attacker for ``seconds``; return counts (connections, reconnects, failures)."""
    clients = [_Slow("header") for _ in range(headers)] + [_Slow("body") for _ in range(bodies)]
    stats = {"connections": 0, "reconnects": 0, "connect_failures": 0}
    for slow in clients:
        try:
            _connect(host, port, slow)
            stats["connections"] += 1
        except OSError:
            stats["connect_failures"] += 1
    selector = selectors.DefaultSelector()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tick = time.monotonic() + interval
        for slow in clients:
            try:
                if slow.sock is None:
                    raise OSError("not connected")
                # A server that closed the connection (or answered it) shows as readable.
                selector.register(slow.sock, selectors.EVENT_READ)
                closed = bool(selector.select(0))
                selector.unregister(slow.sock)
                if closed and not slow.sock.recv(65536, socket.MSG_PEEK):
                    raise OSError("closed by the server")
                if closed:
                    slow.sock.recv(65536)  # an answer (e.g. a timeout error): drop it, go on
                chunk = (
                    b"X-Drip-%d: %d\r\n" % (slow.sent, slow.sent) if slow.kind == "header" else b"x"
                )
                slow.sock.send(chunk)
                slow.sent += 1
            except OSError:
                if slow.sock is not None:
                    slow.sock.close()
                try:
                    _connect(host, port, slow)
                    stats["reconnects"] += 1
                except OSError:
                    slow.sock = None
                    stats["connect_failures"] += 1
        time.sleep(max(0.0, tick - time.monotonic()))
    for slow in clients:
        if slow.sock is not None:
            slow.sock.close()
    return stats


@dataclass
class ProbeResults:
    """Answers per path: ``ok[path]`` 200s within the timeout out of ``sent[path]``."""

    sent: dict[str, int] = field(default_factory=dict)
    ok: dict[str, int] = field(default_factory=dict)

    def share(self, path: str) -> float:
        """Share (0-1) of probes of ``path`` answered 200 in time."""
        return self.ok.get(path, 0) / max(1, self.sent.get(path, 0))

    def probes_share(self) -> float:
        """Share (0-1) over the two probe paths together."""
        sent = sum(self.sent.get(p, 0) for p in ("/healthz", "/readiness"))
        ok = sum(self.ok.get(p, 0) for p in ("/healthz", "/readiness"))
        return ok / max(1, sent)


def probe(
    base_url: str,
    seconds: float,
    period: float = 0.3,
    timeouts: Mapping[str, float] = PROBE_TIMEOUTS,
) -> ProbeResults:
    """Ask every path every ``period`` seconds for ``seconds`` (one thread per path)."""
    results = ProbeResults()
    lock = threading.Lock()

    def run(path: str, timeout: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            tick = time.monotonic() + period
            try:
                answered = requests.get(base_url + path, timeout=timeout).status_code == 200
            except requests.RequestException:
                answered = False
            with lock:
                results.sent[path] = results.sent.get(path, 0) + 1
                results.ok[path] = results.ok.get(path, 0) + int(answered)
            time.sleep(max(0.0, tick - time.monotonic()))

    threads = [threading.Thread(target=run, args=item) for item in timeouts.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def start_attacker(host: str, port: int, seconds: float) -> subprocess.Popen:
    """The attacker in a child process (see the module docstring)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.slow_clients", host, str(port), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )


def open_idle_keepalive(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` connections that each complete one keep-alive request and then stay idle."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: idle\r\n\r\n")
        sock.recv(65536)
        sockets.append(sock)
    return sockets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run the slow-client attacker")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    print(attack(args.host, args.port, args.seconds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
