"""A loop whose turns run only when the test says: for what schedules work "at the end of
this turn of the loop" (``call_soon``), so a test steps the turns instead of yielding.

It stands in for the ``loop`` hook of ``TurnGate`` (server/turns.py) and ``Outgoing``
(server/kernels/outgoing.py). Futures are made on a real loop that never runs: their
``done()`` and results are read directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class SteppedLoop:
    """``call_soon`` queues a callback for the next ``turn``; ``create_future`` makes a
    future on a loop that is not running."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.soon: list[tuple[asyncio.Handle, Callable[..., object], tuple[Any, ...]]] = []

    def call_soon(self, callback: Callable[..., object], *args: Any) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self.loop)  # for its cancel()
        self.soon.append((handle, callback, args))
        return handle

    def create_future(self) -> asyncio.Future[Any]:
        return self.loop.create_future()

    @property
    def pending(self) -> int:
        """Callbacks queued for the next turn and not cancelled."""
        return sum(not handle.cancelled() for handle, _, _ in self.soon)

    def turn(self) -> int:
        """Run what was queued for this turn (not what it queues), raising what a callback
        raises; how many ran."""
        now, self.soon = self.soon, []
        ran = 0
        for handle, callback, args in now:
            if not handle.cancelled():
                callback(*args)
                ran += 1
        return ran


@contextmanager
def stepped_loop() -> Iterator[SteppedLoop]:
    """A SteppedLoop, its loop closed afterwards."""
    loop = asyncio.new_event_loop()
    try:
        yield SteppedLoop(loop)
    finally:
        loop.close()
