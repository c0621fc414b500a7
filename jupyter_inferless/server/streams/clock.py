"""The clock streams age by and their timers run on: the loop's, or one a test steps.

Whatever keeps time for the streams (their ends, the broker's pruning, a stream's
disconnect grace) takes a ``Clock``, so that a test can move time by hand instead of
waiting for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    """A pending call (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None:
        """Never call it."""


class Clock(Protocol):
    """Monotonic seconds, and calls scheduled after some of them."""

    def __call__(self) -> float:
        """Now, in seconds."""
        ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Call ``callback`` once ``delay`` seconds have passed."""
        ...


class LoopClock:
    """The running event loop's clock (``time.monotonic``, as asyncio's) and timers."""

    def __call__(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        return asyncio.get_running_loop().call_later(delay, callback)
