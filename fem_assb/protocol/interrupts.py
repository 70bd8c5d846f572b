"""Ctrl-C and SIGTERM during a run: the run stops between two time-step attempts, at its
last accepted state (a signal inside a PETSc callback would turn into a solver error).

``interruptible()`` installs, for the duration of a run (main thread only), handlers that
note the first SIGINT or SIGTERM; the loop asks ``requested()`` before each attempt. A
second signal interrupts at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_pending: list[int] = []


def requested() -> int | None:
    """The signal received during the run (SIGINT or SIGTERM), or None."""
    return _pending[0] if _pending else None


def _note(signum, frame):
    if _pending:  # the second: at once
        raise KeyboardInterrupt
    _pending.append(signum)


@contextlib.contextmanager
def interruptible():
    """Handle SIGINT and SIGTERM by ``requested()`` within the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending.clear()
    previous = {s: signal.signal(s, _note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
