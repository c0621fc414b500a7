"""The server-wide replay budget: every stream's kept events under one byte limit."""

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
    unsent_cost: int

    def drop_delivered(self, cost: int) -> int:
        """Forget delivered events, oldest first, until ``cost`` is freed; return the cost freed."""
        ...

    def drop_unsent(self, cost: int) -> int:
        """Forget events no client was sent (and any before them) until ``cost`` of them is
        freed; return the cost freed."""
        ...


class ReplayBudget:
    """Charges every event the streams keep to one limit; evicts the oldest over it.

    An event costs its bytes plus EVENT_OVERHEAD: a stream's ``replay_cost`` is what its
    kept, delivered events cost, its ``unsent_cost`` what the events no client was sent
    yet cost. Over the limit, the budget evicts delivered events of finished streams first,
    in the order the streams ended; then those of live streams, the stream that has held
    delivered events the longest first; last, the unsent events of finished streams, in
    the order they ended. Within a stream its oldest events go first. A live stream's unsent
    events count but are never evicted (the kernel's credit bounds them), so the total
    exceeds the limit only while they alone do. Each step is O(1) amortised: streams wait
    in three queues, and a stream leaves a queue once it holds nothing more to evict there.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._finished: OrderedDict[str, Evictable] = OrderedDict()
        self._live: OrderedDict[str, Evictable] = OrderedDict()
        self._unsent: OrderedDict[str, Evictable] = OrderedDict()

    def charge(self, stream: Evictable, delta: int) -> None:
        """``stream``'s costs changed by ``delta`` in all; evict if over the limit."""
        self.held += delta
        self._queue(stream)
        if self.held > self.limit:
            self._evict()

    def ended(self, stream: Evictable) -> None:
        """``stream`` finished: its delivered events now go before any live stream's, and
        its unsent ones may be evicted, last."""
        self._live.pop(stream.rid, None)
        self.charge(stream, 0)

    def release(self, stream: Evictable) -> None:
        """``stream`` is forgotten, with all its events."""
        self.held -= stream.replay_cost + stream.unsent_cost
        for queue in (self._finished, self._live, self._unsent):
            queue.pop(stream.rid, None)

    def _queue(self, stream: Evictable) -> None:
        delivered = self._finished if stream.ended else self._live
        unsent = stream.unsent_cost if stream.ended else 0
        for queue, cost in ((delivered, stream.replay_cost), (self._unsent, unsent)):
            if cost > 0:
                queue.setdefault(stream.rid, stream)
            else:
                queue.pop(stream.rid, None)

    def _evict(self) -> None:
        for queue in (self._finished, self._live, self._unsent):
            while self.held > self.limit and queue:
                stream = next(iter(queue.values()))
                if queue is self._unsent:
                    self.held -= stream.drop_unsent(self.held - self.limit)
                else:
                    self.held -= stream.drop_delivered(self.held - self.limit)
                self._queue(stream)  # it leaves the queue once it has nothing left there
