"""The local stack's guardian: cleans up after a runner that could not (``kill -9``, a crash).

The runner (``local.stack``) starts this module as a small process of its own session right after
it creates its state directory, with a pipe as stdin, and writes one line per child it starts::

    pgid <process group id>

A normal stop ends with ``done`` and the guardian exits quietly. When the pipe closes without
``done`` the runner is gone: the guardian SIGKILLs every process group it was told about
(gunicorn's workers included, they share their master's group), waits until they are gone (at
most ``WAIT_SECONDS``), removes the state directory and says so in one line on stderr.

Its children already die with the runner (``PR_SET_PDEATHSIG`` in ``local.processes``); the
guardian adds the workers, the state directory and the line. It imports nothing but the standard
library so that it starts in milliseconds. Terminal signals (SIGINT, SIGHUP) are ignored: it
lives in a session of its own and must outlive the runner.

Usage (by the runner only): ``python -m local.guardian STATE_DIR < pipe``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterable

WAIT_SECONDS = 5.0
"""How long the killed process groups get to disappear before the state directory goes."""


def group_alive(pgid: int) -> bool:
    """True while any process of group ``pgid`` exists (zombies count until reaped)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_up(pgids: Iterable[int], state_dir: str, wait: float = WAIT_SECONDS) -> list[int]:
    """SIGKILL every group in ``pgids``, wait for them, remove ``state_dir``.

    Returns:
        the groups still alive after ``wait`` seconds (normally none).
    """
    groups = sorted(set(pgids))
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    alive = [g for g in groups if group_alive(g)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [g for g in alive if group_alive(g)]
    shutil.rmtree(state_dir, ignore_errors=True)
    return alive


def main(argv: list[str] | None = None) -> int:
    """Read the runner's lines until EOF; clean up unless the last one was ``done``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m local.guardian STATE_DIR < pipe", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    state_dir = args[0]
    pgids: list[int] = []
    done = False
    for line in sys.stdin:
        word, _, value = line.strip().partition(" ")
        if word == "pgid" and value.isdigit():
            pgids.append(int(value))
        elif word == "done":
            done = True
    if done:
        return 0
    started = time.monotonic()
    alive = clean_up(pgids, state_dir)
    message = (
        f"local stack: the runner ended without stopping; killed its {len(pgids)} process "
        f"group(s) and removed {state_dir} ({time.monotonic() - started:.1f} s)"
    )
    if alive:
        message += f"; still alive: process groups {alive}"
    with contextlib.suppress(OSError):
        print(message, file=sys.stderr, flush=True)
    return 1 if alive else 0


if __name__ == "__main__":
    sys.exit(main())
