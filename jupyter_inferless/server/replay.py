"""The server-wide replay budget: delivered events of every stream under one byte limit."""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

#: Bytes a kept event costs beyond its data: a bytes object's header (33 bytes in CPython),
#: its slot in the stream's list (8) and the allocator's rounding.
EVENT_OVERHEAD = 56


class Evictable(Protocol):
    """What the budget needs of a stream."""

    rid: str
    ended: bool
    replay_cost: int

    def drop_delivered(self, cost: int) -> int:
        """Forget delivered events, oldest first, until ``cost`` is freed; return the cost freed."""
        ...


class ReplayBudget:
    """Charges every stream's kept, delivered events to one limit; evicts the oldest over it.

    A stream's ``replay_cost`` is what its delivered events still kept cost: their bytes
    plus EVENT_OVERHEAD each. Events no subscriber has delivered are never charged nor
    evicted (the kernel's credit bounds them). Over the limit, the budget evicts delivered
    events of finished streams first, in the order the streams ended; then those of live
    streams, the stream that has held delivered events the longest first; within a
    stream, its oldest events first. Each step is O(1) amortised: streams wait in two
    queues, and a stream leaves its queue once it holds nothing more to evict.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._finished: OrderedDict[str, Evictable] = OrderedDict()
        self._live: OrderedDict[str, Evictable] = OrderedDict()

    def charge(self, stream: Evictable, delta: int) -> None:
        """``stream``'s replay cost changed by ``delta``; evict if over the limit."""
        self.held += delta
        queue = self._finished if stream.ended else self._live
        if stream.replay_cost > 0:
            queue.setdefault(stream.rid, stream)
        else:
            queue.pop(stream.rid, None)
        if self.held > self.limit:
            self._evict()

    def ended(self, stream: Evictable) -> None:
        """``stream`` finished: its delivered events now go before any live stream's."""
        if self._live.pop(stream.rid, None) is not None:
            self._finished[stream.rid] = stream

    def release(self, stream: Evictable) -> None:
        """``stream`` is forgotten, with all its events."""
        self.held -= stream.replay_cost
        self._live.pop(stream.rid, None)
        self._finished.pop(stream.rid, None)

    def _evict(self) -> None:
        for queue in (self._finished, self._live):
            while self.held > self.limit and queue:
                rid, stream = next(iter(queue.items()))
                self.held -= stream.drop_delivered(self.held - self.limit)
                if stream.replay_cost <= 0:
                    del queue[rid]
