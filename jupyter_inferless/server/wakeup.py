"""A wake-up that any number of coroutines wait on, with a timeout.

A stream's writer waits once per event, so a wait must be cheap: no task, no shield, and
no timer of its own. Timeouts share coarse deadlines instead: every wait whose timeout
ends in the same ``RESOLUTION`` slot is expired by one timer. A wait never ends early; it
may end up to ``RESOLUTION`` late, which heartbeats and similar timeouts do not notice.
"""

from __future__ import annotations

import asyncio
import math
import weakref

RESOLUTION = 0.005
"""Seconds: the granularity of the timeouts."""


class _Deadlines:
    """One loop's pending timeouts, in slots of RESOLUTION seconds, one timer per slot."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots: dict[int, set[asyncio.Future[bool]]] = {}

    def add(self, waiter: asyncio.Future[bool], timeout: float) -> int:
        """Resolve ``waiter`` with False once ``timeout`` seconds have passed; its slot."""
        slot = math.ceil((self.loop.time() + timeout) / RESOLUTION)
        waiters = self.slots.get(slot)
        if waiters is None:
            waiters = self.slots[slot] = set()
            self.loop.call_at(slot * RESOLUTION, self._expire, slot)
        waiters.add(waiter)
        return slot

    def discard(self, waiter: asyncio.Future[bool], slot: int) -> None:
        """``waiter`` ended another way; its slot's timer will find it gone."""
        waiters = self.slots.get(slot)
        if waiters is not None:
            waiters.discard(waiter)

    def _expire(self, slot: int) -> None:
        for waiter in self.slots.pop(slot, ()):
            if not waiter.done():
                waiter.set_result(False)


_DEADLINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines] = (
    weakref.WeakKeyDictionary()
)


def _deadlines(loop: asyncio.AbstractEventLoop) -> _Deadlines:
    deadlines = _DEADLINES.get(loop)
    if deadlines is None:
        deadlines = _DEADLINES[loop] = _Deadlines(loop)
    return deadlines


class Wakeup:
    """``wake()`` ends every current ``wait()``; later waits wait for the next wake."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[bool]] = []

    def wake(self) -> None:
        """Wake every waiter."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)

    async def wait(self, timeout: float) -> bool:
        """Wait for the next wake; False when ``timeout`` seconds passed first."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        deadlines = _deadlines(loop)
        slot = deadlines.add(waiter, timeout)
        woken = False
        try:
            woken = await waiter
            return woken
        finally:
            deadlines.discard(waiter, slot)
            if not woken and waiter in self._waiters:  # timed out or cancelled: forget it
                self._waiters.remove(waiter)
