"""A traffic generator for the local stack: a realistic request mix at a bounded rate.

``make traffic`` (or ``make run TRAFFIC=1``, which runs it inside the stack) sends, to the local
app only, a mix shaped like a small public API's:

=========  ==================================  =======================================
share      request                             answer
=========  ==================================  =======================================
70 %       ``GET /hello``                      200 (500 or slow under fault injection)
12 %       ``GET /hello?name=<a name>``        200
8 %        ``GET /``                           200
5 %        ``GET <an unknown path>``           404 (route label ``<unmatched>``)
5 %        ``GET /hello?name=<invalid>``       400
=========  ==================================  =======================================

so that every panel and SLO rule has data: 4xx are the client's fault and do not spend the error
budget; only 5xx (``FAULT_ERROR_RATIO``) and slow answers (``FAULT_LATENCY_RATIO``) do.

The rate is bounded twice: requests start on a fixed schedule (``rate`` per second, at most
``MAX_RATE``) and at most ``concurrency`` are in flight; a request due while all slots are busy
is skipped and counted, never queued, so a slow app is not buried under a backlog.

Only ``http://127.0.0.1:<port>`` is accepted as a target: this is a load source, pointed at a
process on this machine, never at someone else's service.

Usage::

    python -m local.traffic [--url http://127.0.0.1:5000] [--rate 5] [--duration 60]

``--url`` defaults to ``http://127.0.0.1:$LOCAL_APP_PORT`` (the local stack's app port, default
the app's own default port); ``--rate`` to ``$TRAFFIC_RATE`` or 5.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from app.settings import Settings

APP_PORT_ENV = "LOCAL_APP_PORT"
"""Environment variable naming the local stack's app port (shared with ``local_stack``)."""
RATE_ENV = "TRAFFIC_RATE"
DEFAULT_RATE = 5.0
"""Requests per second by default: a few per scrape interval, enough for every rate() panel."""
MAX_RATE = 200.0
"""Upper bound of ``rate`` (requests per second): a demo load, not a benchmark."""
DEFAULT_CONCURRENCY = 4
REQUEST_TIMEOUT_SECONDS = 35.0
"""Longer than the largest injected delay (``FAULT_LATENCY_SECONDS`` is at most 30 s)."""
ALLOWED_HOST = "127.0.0.1"

NAMES = ("Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances")
INVALID_NAMES = ("<script>", "x" * 65, "semi;colon", "")  # "" is invalid too: 1-64 characters
UNKNOWN_PATHS = ("/missing", "/wp-login.php", "/api/v1/users", "/hello/extra", "/favicon.ico")


@dataclass(frozen=True)
class Kind:
    """One kind of request in the mix: its share (a weight) and how to build its path."""

    name: str
    weight: int
    path: Callable[[random.Random], str]


MIX: tuple[Kind, ...] = (
    Kind("hello", 70, lambda rng: "/hello"),
    Kind("hello_name", 12, lambda rng: "/hello?name=" + quote(rng.choice(NAMES))),
    Kind("index", 8, lambda rng: "/"),
    Kind("not_found", 5, lambda rng: rng.choice(UNKNOWN_PATHS)),
    Kind("bad_request", 5, lambda rng: "/hello?name=" + quote(rng.choice(INVALID_NAMES))),
)
"""The request mix; weights are percentages."""


class TrafficError(ValueError):
    """A bad target URL, rate or concurrency; the message says which and why."""


def check_target(url: str) -> str:
    """Return ``url`` without a trailing slash if it is ``http://127.0.0.1:<port>``.

    Raises:
        TrafficError: another scheme or host, a path, or no port.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != ALLOWED_HOST:
        raise TrafficError(
            f"traffic goes to the local app only: the URL must be http://{ALLOWED_HOST}:<port>, "
            f"got {url!r}"
        )
    try:
        port = parts.port
    except ValueError as error:
        raise TrafficError(f"bad port in {url!r}: {error}") from None
    if port is None:
        raise TrafficError(f"the URL names no port: {url!r}")
    if parts.path not in ("", "/") or parts.query:
        raise TrafficError(f"the URL must have no path or query (got {url!r})")
    return f"http://{ALLOWED_HOST}:{port}"


class TrafficGenerator:
    """Sends the ``MIX`` to one local app from a background thread.

    Args:
        base_url: ``http://127.0.0.1:<port>`` (see ``check_target``).
        rate: requests started per second, 0 < rate <= ``MAX_RATE``.
        concurrency: requests in flight at most, 1-32.
        seed: seeds the choice of requests (reproducible mixes).
        on_response: called with ``(path, status)`` after every answer (status 0: no answer).

    Attributes:
        statuses: ``Counter`` of answers by HTTP status (0 = connection error or timeout).
        skipped: requests skipped because every slot was busy.

    Raises:
        TrafficError: invalid URL, rate or concurrency.
    """

    def __init__(
        self,
        base_url: str,
        rate: float = DEFAULT_RATE,
        concurrency: int = DEFAULT_CONCURRENCY,
        seed: int | None = None,
        on_response: Callable[[str, int], None] | None = None,
    ) -> None:
        self.base_url = check_target(base_url)
        if not 0 < rate <= MAX_RATE:
            raise TrafficError(f"rate must be a number of requests per second in (0, {MAX_RATE}]")
        if not 1 <= concurrency <= 32:
            raise TrafficError("concurrency must be 1-32")
        self.rate = rate
        self._rng = random.Random(seed)  # noqa: S311 - a request mix, not security
        self._slots = threading.BoundedSemaphore(concurrency)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._on_response = on_response
        self.statuses: Counter[int] = Counter()
        self.skipped = 0

    def next_path(self) -> str:
        """The path (with query) of the next request, drawn from ``MIX``."""
        kind = self._rng.choices(MIX, weights=[k.weight for k in MIX])[0]
        return kind.path(self._rng)

    def start(self) -> TrafficGenerator:
        """Start sending from a daemon thread; returns ``self``."""
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop scheduling requests; in-flight ones finish on their own (daemon threads)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_for(self, seconds: float | None) -> None:
        """Send in the calling thread for ``seconds`` (``None``: until ``stop()``)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        try:
            self._run(deadline)
        finally:
            self._stop.set()

    def wait_stopped(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``stop()``; True once stopped."""
        return self._stop.wait(timeout)

    def snapshot(self) -> dict[str, int]:
        """Answers so far by status (as strings, JSON-ready) plus ``skipped``."""
        with self._lock:
            counts = {str(status): n for status, n in sorted(self.statuses.items())}
            counts["skipped"] = self.skipped
        return counts

    def _run(self, deadline: float | None = None) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            if now < next_at:
                self._stop.wait(next_at - now)
                continue
            # Fixed schedule: a late loop does not send a burst to catch up.
            next_at = max(next_at + interval, now)
            if self._slots.acquire(blocking=False):
                path = self.next_path()
                threading.Thread(target=self._send, args=(path,), daemon=True).start()
            else:
                with self._lock:
                    self.skipped += 1

    def _send(self, path: str) -> None:
        try:
            status = _get(self.base_url + path)
        finally:
            self._slots.release()
        with self._lock:
            self.statuses[status] += 1
        if self._on_response is not None:
            self._on_response(path, status)


def _get(url: str) -> int:
    """GET ``url`` and return the status; 0 when no answer came (refused, reset, timeout)."""
    # The URL is built from check_target's http://127.0.0.1:<port> and our own paths.
    request = urllib.request.Request(url, headers={"User-Agent": "demo-app-traffic"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        error.read()
        return error.code
    except (OSError, urllib.error.URLError, http.client.HTTPException):
        # HTTPException: the app died mid-answer (IncompleteRead, e.g. a container restart)
        return 0


def default_url() -> str:
    """``http://127.0.0.1:$LOCAL_APP_PORT``, defaulting to the app's own default port."""
    return f"http://{ALLOWED_HOST}:{os.environ.get(APP_PORT_ENV) or Settings.port}"


def main(argv: list[str] | None = None) -> int:
    """Send traffic until Ctrl-C (or ``--duration``); print a JSON summary every 10 s."""
    parser = argparse.ArgumentParser(
        prog="python -m local.traffic",
        description="Send a realistic request mix to the local app (127.0.0.1 only).",
    )
    parser.add_argument("--url", default=default_url(), help="http://127.0.0.1:<port>")
    parser.add_argument(
        "--rate",
        type=float,
        # a string default goes through `type` too: a bad $TRAFFIC_RATE is a usage error
        default=os.environ.get(RATE_ENV) or str(DEFAULT_RATE),
        help=f"requests per second (default {DEFAULT_RATE}, at most {MAX_RATE})",
    )
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--duration", type=float, default=None, help="seconds (default: forever)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        generator = TrafficGenerator(args.url, args.rate, args.concurrency, args.seed)
    except TrafficError as error:
        print(f"traffic: {error}", file=sys.stderr)
        return 2
    print(f"traffic: {generator.rate:g} requests/s to {generator.base_url} (Ctrl-C stops)")
    reporter = threading.Thread(target=_report, args=(generator,), daemon=True)
    reporter.start()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the run; the summary follows
        generator.run_for(args.duration)
    print(json.dumps({"traffic": generator.snapshot()}), flush=True)
    return 0


def _report(generator: TrafficGenerator, every_seconds: float = 10.0) -> None:
    while not generator.wait_stopped(every_seconds):
        print(json.dumps({"traffic": generator.snapshot()}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
