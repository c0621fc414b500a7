"""A wake-up that any number of coroutines wait on, with a timeout.

A stream's writer waits once per event, so a wait must be cheap: no task, no shield, and
no timer of its own. Timeouts share coarse deadlines instead: every wait whose timeout
ends in the same ``RESOLUTION`` slot is expired by one timer. A wait never ends early; it
may end up to ``RESOLUTION`` late, which heartbeats and similar timeouts do not notice.
"""

from __future__ import annotations

import asyncio
import math

RESOLUTION = 0.005
"""Seconds: the granularity of the timeouts."""

Slot = tuple[asyncio.AbstractEventLoop, int]
"""A loop and the RESOLUTION slot of its clock that a timeout ends in."""


class Deadlines:
    """Pending timeouts in slots of RESOLUTION seconds, one timer per slot and loop.

    Whoever owns many waits (the broker, for its streams) holds one and gives it to their
    Wakeups, so that their timeouts share timers.
    """

    def __init__(self) -> None:
        self.slots: dict[Slot, set[asyncio.Future[bool]]] = {}

    def add(self, waiter: asyncio.Future[bool], timeout: float) -> Slot:
        """Resolve ``waiter`` with False once ``timeout`` seconds have passed; its slot."""
        loop = waiter.get_loop()
        number = math.ceil((loop.time() + timeout) / RESOLUTION)
        slot = (loop, number)
        waiters = self.slots.get(slot)
        if waiters is None:
            waiters = self.slots[slot] = set()
            loop.call_at(number * RESOLUTION, self._expire, slot)
        waiters.add(waiter)
        return slot

    def discard(self, waiter: asyncio.Future[bool], slot: Slot) -> None:
        """``waiter`` ended another way; its slot's timer will find it gone."""
        waiters = self.slots.get(slot)
        if waiters is not None:
            waiters.discard(waiter)

    def _expire(self, slot: Slot) -> None:
        for waiter in self.slots.pop(slot, ()):
            if not waiter.done():
                waiter.set_result(False)


class Wakeup:
    """``wake()`` ends every current ``wait()``; later waits wait for the next wake."""

    def __init__(self, deadlines: Deadlines | None = None) -> None:
        """``deadlines``: shared with other Wakeups; by default this one's own."""
        self._waiters: list[asyncio.Future[bool]] = []
        self.deadlines = deadlines if deadlines is not None else Deadlines()

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
        slot = self.deadlines.add(waiter, timeout)
        woken = False
        try:
            woken = await waiter
            return woken
        finally:
            self.deadlines.discard(waiter, slot)
            if not woken and waiter in self._waiters:  # timed out or cancelled: forget it
                self._waiters.remove(waiter)
