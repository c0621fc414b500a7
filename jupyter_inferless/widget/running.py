"""The inline views' runs that may still have threads, so that they can all be stopped.

The kernel's runtime calls :func:`close_runs` when it closes (``%unload_ext``, a kernel
shutdown or restart): each run cancels its request, stops reading and ends its view, and
their threads are joined, within one bound for all.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Protocol

CLOSE_TIMEOUT = 5.0  # seconds close_runs() waits for all the views' threads


class Closable(Protocol):
    """What a run offers to be stopped from outside."""

    def close(self) -> None:
        """Cancel, stop reading and end the view, without waiting."""

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the run's threads to end."""


_runs: weakref.WeakSet[Closable] = weakref.WeakSet()  # a finished, forgotten run drops out
_lock = threading.Lock()


def track(run: Closable) -> None:
    """Note a run that has started."""
    with _lock:
        _runs.add(run)


def close_runs(timeout: float = CLOSE_TIMEOUT) -> None:
    """Stop every run and wait, up to ``timeout`` s in all, for their threads."""
    with _lock:
        runs = list(_runs)
    for run in runs:
        run.close()
    deadline = time.monotonic() + timeout
    for run in runs:
        run.join(max(0.0, deadline - time.monotonic()))
