"""``python -m local`` (``make run``): the local stack, with its stop signals handled at once.

The signal handlers go in before the heavy imports (the generators, grafanalib): a Ctrl-C,
SIGTERM or SIGHUP in the first second is remembered and handed to ``local.stack.main``, which
then stops cleanly instead of printing a ``KeyboardInterrupt`` traceback.
"""

from __future__ import annotations

import signal
import sys

_pending: list[int] = []


def _remember(signum: int, frame: object) -> None:
    _pending.append(signum)


for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _remember)

from local import stack  # noqa: E402 - after the handlers, on purpose (see above)

sys.exit(stack.main(pending_signals=_pending))
