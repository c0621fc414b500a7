"""At most a few requests handled per turn of the server's loop, so frames keep moving.

The server reads each kernel's frames once per turn of its loop. A burst of requests (256
clients connecting at once) would otherwise be handled in one or two long turns, each
request's start a fraction of a millisecond, and the events of the streams already running
would wait behind all of them. ``TurnGate`` lets ``per_turn`` requests in per turn; the
others wait, in arrival order, for the next turns, between which the loop reads the
kernels' frames and writes their events. Only requests that start a run take a turn, once
they are authenticated: others cannot hold up the runs by taking turns.

The gate schedules its turns, and makes its callers' futures, on a ``TurnLoop``: the
running loop, or one a test steps a turn at a time (``loop=`` returns it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol


class TurnLoop(Protocol):
    """What the gate runs on (an asyncio loop is one)."""

    def call_soon(self, callback: Callable[[], object]) -> object:
        """Call ``callback`` in the next turn (what it returns is not used)."""
        ...

    def create_future(self) -> asyncio.Future[Any]:
        """A future its awaiter resumes from once it is done."""
        ...


class TurnGate:
    """Admits up to ``per_turn`` callers per turn of the running loop, in arrival order;
    ``entered`` counts the callers let in. ``loop`` returns the ``TurnLoop`` in use (by
    default the running loop, looked up at each use)."""

    def __init__(
        self, per_turn: int, loop: Callable[[], TurnLoop] = asyncio.get_running_loop
    ) -> None:
        if per_turn < 1:
            raise ValueError(f"per_turn must be at least 1, not {per_turn!r}")
        self.per_turn = per_turn
        self.loop = loop
        self.entered = 0
        self._admitted = 0  # callers let in during this turn
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._scheduled = False  # a turn is scheduled

    @property
    def waiting(self) -> int:
        """Callers waiting for a later turn."""
        return len(self._waiting)

    async def enter(self) -> None:
        """Return at once while this turn has room, else in a later turn."""
        waiter = self.ticket()
        if waiter is not None:
            await waiter
        self.entered += 1

    def ticket(self) -> asyncio.Future[None] | None:
        """Take a place: None while this turn has room (the caller is in), else a future
        done in the turn the caller is let in; cancelling it gives the place up."""
        if self._admitted < self.per_turn and not self._waiting:
            self._admitted += 1
            self._schedule()
            return None
        waiter: asyncio.Future[None] = self.loop().create_future()
        self._waiting.append(waiter)
        self._schedule()
        return waiter

    def _schedule(self) -> None:
        if not self._scheduled:
            self.loop().call_soon(self._turn)
            self._scheduled = True

    def _turn(self) -> None:
        """A new turn: let the next callers in (they run in the turn after this one, so
        the loop reads its sockets in between)."""
        self._scheduled = False
        self._admitted = 0
        while self._waiting and self._admitted < self.per_turn:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a caller that gave up is skipped
                waiter.set_result(None)
                self._admitted += 1
        if self._admitted or self._waiting:
            self._schedule()
