"""One stream on the server: its events, bounded replay buffer, subscribers and cancel."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ...protocol import RunError
from ..errors import EventsEvicted
from .clock import Clock, LoopClock, Timer
from .reader import Reader
from .replay import EVENT_OVERHEAD, ReplayBudget
from .wakeup import Wakeup

MIB = 1024 * 1024


class Upstream(Protocol):
    """Where a stream's events come from: a kernel's bridge."""

    kernel_id: str

    def consumed(self, stream: Stream) -> None:
        """A subscriber of ``stream`` advanced its ``consumed``: credit may be due."""

    def cancel(self, rid: str) -> None:
        """Cancel request ``rid`` down to the model's loop."""


@dataclass(eq=False)
class Stream:
    """One request's events as they arrive from the kernel.

    Event ``base + k`` is ``lines[k]``. Every kept event counts in the server's replay
    ``budget``. While the stream runs, events nobody has delivered are always kept (the
    kernel's credit bounds them); delivered ones are kept for replay up to
    ``replay_events`` events and ``replay_bytes`` bytes, oldest dropped first, and as the
    budget allows. Once it has ended, the budget may drop the events nobody was sent too,
    last (``unsent_dropped`` counts them). ``consumed`` is the furthest position a
    subscriber has written out; ``upstream`` (the kernel) is told as it advances, and
    asked to cancel. ``replay_cost`` is what the delivered events still kept cost the
    budget, ``unsent_cost`` what the others do.

    Readers subscribe through ``reader()``. When the last one leaves a running stream,
    it is cancelled ``grace`` seconds later on ``clock`` unless a reader comes back.
    """

    rid: str
    model: str
    upstream: Upstream = field(repr=False)
    grace: float = 30.0
    replay_events: int = 4096
    replay_bytes: int = 4 * MIB
    lines: list[bytes] = field(default_factory=list)
    base: int = 0
    held_bytes: int = 0
    ended: bool = False
    error: RunError | None = None
    consumed: int = 0
    consumed_bytes: int = 0
    replay_cost: int = 0
    unsent_cost: int = 0
    unsent_dropped: int = 0
    subscribers: int = 0
    ended_at: float | None = None
    clock: Clock = field(default_factory=LoopClock, repr=False)
    budget: ReplayBudget | None = field(default=None, repr=False)
    on_end: Callable[[Stream], None] | None = field(default=None, repr=False)
    wakeup: Wakeup = field(default_factory=Wakeup, repr=False)  # its owner's deadlines
    _grace_timer: Timer | None = field(default=None, init=False, repr=False)

    @property
    def kernel_id(self) -> str:
        """The kernel running the request."""
        return self.upstream.kernel_id

    @property
    def total(self) -> int:
        """How many events the stream has had; the next event's id."""
        return self.base + len(self.lines)

    def append(self, lines: list[bytes]) -> None:
        """Events arrived from the kernel."""
        self.lines.extend(lines)
        cost = _cost(lines)
        self.held_bytes += cost - len(lines) * EVENT_OVERHEAD
        self.unsent_cost += cost
        if self.budget is not None:
            self.budget.charge(self, cost)
        self._wake()

    def read(self, position: int, max_bytes: int | None = None) -> list[bytes]:
        """The events from ``position`` on, or as many of them (one at least) as make
        ``max_bytes``; EventsEvicted if they left the buffer."""
        if position < self.base:
            raise EventsEvicted(
                f"the first {self.base} events are no longer kept (each stream keeps up to "
                f"{self.replay_events} delivered events or {self.replay_bytes} bytes, and all "
                f"streams share the server's replay budget){self.dropped_note()}"
            )
        start = end = position - self.base
        if max_bytes is None:
            return self.lines[start:]
        size = 0
        for line in itertools.islice(self.lines, start, None):
            size += len(line) + 1
            if size > max_bytes and end > start:
                break
            end += 1
        return self.lines[start:end]

    def dropped_note(self) -> str:
        """What to add when events left the buffer before any client was sent them."""
        if not self.unsent_dropped:
            return ""
        return (
            f"; {self.unsent_dropped} of them were dropped before any client was sent them: "
            "the stream had ended and the server's replay budget was full"
        )

    def finish(self, error: RunError | None = None) -> None:
        """The stream ended; ``error`` is sent in-band when given. Only the first end counts."""
        if self.ended:
            return
        self.ended = True
        self.ended_at = self.clock()
        self.error = error
        self._stop_grace()
        if self.on_end is not None:
            self.on_end(self)
        self._wake()

    def cancel(self) -> None:
        """Cancel the request down to the model's loop (its end arrives as ``finish``)."""
        self.upstream.cancel(self.rid)

    def reader(self, position: int, heartbeat: float, max_bytes: int | None = None) -> Reader:
        """A subscription that reads the stream from ``position`` (``reader.py``)."""
        return Reader(self, position, heartbeat, max_bytes)

    def subscribe(self) -> None:
        """A reader started: no grace period runs while it reads."""
        self.subscribers += 1
        self._stop_grace()

    def unsubscribe(self) -> None:
        """A reader left; with nobody left, cancel after the grace period."""
        self.subscribers -= 1
        if self.subscribers == 0 and not self.ended:
            self._grace_timer = self.clock.call_later(self.grace, self._grace_over)

    def _grace_over(self) -> None:
        self._grace_timer = None
        if self.subscribers == 0 and not self.ended:
            self.cancel()

    def _stop_grace(self) -> None:
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None

    def advance(self, position: int) -> None:
        """A subscriber has delivered everything before ``position``."""
        if position <= self.consumed:
            return
        start = max(self.consumed, self.base) - self.base
        delivered = self.lines[start : position - self.base]
        cost = _cost(delivered)
        self.consumed_bytes += cost - len(delivered) * EVENT_OVERHEAD
        self.consumed = position
        self.replay_cost += cost
        self.unsent_cost -= cost
        freed = self._evict()
        if self.budget is not None:
            self.budget.charge(self, -freed)
        self.upstream.consumed(self)

    def drop_delivered(self, cost: int) -> int:
        """Forget delivered events, oldest first, until ``cost`` is freed; return the cost freed."""
        delivered = self.consumed - self.base
        count = freed = 0
        while count < delivered and freed < cost:
            freed += len(self.lines[count]) + 1 + EVENT_OVERHEAD
            count += 1
        return self._drop(count)

    def drop_unsent(self, cost: int) -> int:
        """Forget the oldest events no client was sent (and any delivered before them) until
        ``cost`` of them is freed; return the cost freed."""
        count = freed = 0
        while count < len(self.lines) and freed < cost:
            if self.base + count >= self.consumed:
                freed += len(self.lines[count]) + 1 + EVENT_OVERHEAD
            count += 1
        return self._drop(count)

    async def wait(self, position: int, timeout: float) -> bool:
        """Wait until there is an event at ``position`` or the end; False on timeout."""
        if position < self.total or self.ended:
            return True
        return await self.wakeup.wait(timeout)

    def _evict(self) -> int:
        """Keep the stream's own replay limits; return the cost freed."""
        delivered = self.consumed - self.base
        drop = max(0, delivered - self.replay_events)
        size = self.held_bytes - sum(len(line) + 1 for line in self.lines[:drop])
        while drop < delivered and size > self.replay_bytes:
            size -= len(self.lines[drop]) + 1
            drop += 1
        return self._drop(drop)

    def _drop(self, count: int) -> int:
        """Forget the first ``count`` events; return the cost freed."""
        if count <= 0:
            return 0
        delivered = min(max(self.consumed - self.base, 0), count)
        replay = _cost(self.lines[:delivered])
        unsent = _cost(self.lines[delivered:count])
        del self.lines[:count]
        self.base += count
        self.held_bytes -= replay + unsent - count * EVENT_OVERHEAD
        self.replay_cost -= replay
        self.unsent_cost -= unsent
        self.unsent_dropped += count - delivered
        return replay + unsent

    def _wake(self) -> None:
        self.wakeup.wake()


def _cost(lines: list[bytes]) -> int:
    """What ``lines`` cost the budget: their bytes, a newline and EVENT_OVERHEAD each."""
    return sum(len(line) + 1 for line in lines) + len(lines) * EVENT_OVERHEAD
