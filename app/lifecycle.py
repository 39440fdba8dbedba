"""Server-wide state that every worker must agree on: start time and shutdown.

Per-worker memory is not enough: gunicorn respawns workers, and any of them may answer a probe or
a scrape. So the start time comes from the gunicorn master (an environment variable set before
the first fork, inherited by every worker, respawned ones included), and "shutdown has begun" is
a marker file in the server's state directory (the prometheus_client multiprocess directory,
wiped at server start) that the master creates on SIGTERM.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

SHUTDOWN_MARKER = "shutdown-begun"
"""File name of the shutdown marker inside the state directory."""
CPU_SAMPLES = "cpu-samples.json"
"""File name of the CPU window's samples inside the state directory."""


@dataclass
class ServerState:
    """What readiness and uptime are computed from.

    Attributes:
        started_at: Unix time (seconds) the server started: the gunicorn master's start, or the
            app's creation when it runs without gunicorn.
        min_uptime_seconds: readiness waits this long after ``started_at``.
        state_dir: where the shutdown marker lives; ``None`` = in-process only (tests).
    """

    started_at: float
    min_uptime_seconds: float
    state_dir: Path | None = None
    _shutting_down: bool = False

    def uptime_seconds(self, now: float | None = None) -> float:
        """Seconds since the server started (never negative)."""
        return max(0.0, (time.time() if now is None else now) - self.started_at)

    def shutting_down(self) -> bool:
        """True once shutdown has begun (SIGTERM received by the master)."""
        if self._shutting_down:
            return True
        return self.state_dir is not None and (self.state_dir / SHUTDOWN_MARKER).exists()

    def begin_shutdown(self) -> None:
        """Mark shutdown as begun, for this process and (through the marker) every worker."""
        self._shutting_down = True
        if self.state_dir is not None:
            (self.state_dir / SHUTDOWN_MARKER).touch()

    def ready(self, now: float | None = None) -> bool:
        """Ready = up for at least ``min_uptime_seconds`` and not shutting down."""
        return self.uptime_seconds(now) >= self.min_uptime_seconds and not self.shutting_down()
