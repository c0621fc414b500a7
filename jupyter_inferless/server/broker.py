"""Streams on the server: request ids, a bounded replay buffer, subscribers waiting for more."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field


class EventsEvicted(LookupError):
    """The events asked for were delivered and have left the replay buffer."""


@dataclass
class Stream:
    """One request's events as they arrive from the kernel.

    Event ``base + k`` is ``lines[k]``. Events nobody has delivered are always kept
    (the kernel's credit bounds them); delivered ones are kept for replay up to
    ``replay_events`` events and ``replay_bytes`` bytes, oldest dropped first.
    ``consumed`` is the furthest position a subscriber has written out; the kernel
    gets credit as it advances.
    """

    rid: str
    model: str
    kernel_id: str
    replay_events: int = 4096
    replay_bytes: int = 4 * 1024 * 1024
    lines: list[bytes] = field(default_factory=list)
    base: int = 0
    held_bytes: int = 0
    ended: bool = False
    error: str | None = None
    consumed: int = 0
    consumed_bytes: int = 0
    subscribers: int = 0
    created: float = field(default_factory=time.monotonic)
    on_consumed: Callable[[Stream], None] | None = None
    _waiter: asyncio.Future[None] | None = None

    @property
    def total(self) -> int:
        """How many events the stream has had; the next event's id."""
        return self.base + len(self.lines)

    def append(self, lines: list[bytes]) -> None:
        """Events arrived from the kernel."""
        self.lines.extend(lines)
        self.held_bytes += sum(len(line) + 1 for line in lines)
        self._wake()

    def read(self, position: int) -> list[bytes]:
        """The events from ``position`` on; EventsEvicted if they left the buffer."""
        if position < self.base:
            raise EventsEvicted(
                f"events before id {self.base} are no longer kept (the replay buffer holds "
                f"{self.replay_events} events or {self.replay_bytes} bytes)"
            )
        return self.lines[position - self.base :]

    def finish(self, error: str | None = None) -> None:
        """The stream ended; ``error`` is sent in-band when given. Only the first end counts."""
        if self.ended:
            return
        self.ended = True
        self.error = error
        self._wake()

    def advance(self, position: int) -> None:
        """A subscriber has delivered everything before ``position``."""
        if position <= self.consumed:
            return
        start = max(self.consumed, self.base) - self.base
        self.consumed_bytes += sum(
            len(line) + 1 for line in self.lines[start : position - self.base]
        )
        self.consumed = position
        self._evict()
        if self.on_consumed is not None:
            self.on_consumed(self)

    async def wait(self, position: int, timeout: float) -> bool:
        """Wait until there is an event at ``position`` or the end; False on timeout."""
        if position < self.total or self.ended:
            return True
        if self._waiter is None or self._waiter.done():
            self._waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._waiter), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def _evict(self) -> None:
        delivered = self.consumed - self.base
        drop = max(0, delivered - self.replay_events)
        size = self.held_bytes - sum(len(line) + 1 for line in self.lines[:drop])
        while drop < delivered and size > self.replay_bytes:
            size -= len(self.lines[drop]) + 1
            drop += 1
        if drop:
            del self.lines[:drop]
            self.base += drop
            self.held_bytes = size

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Broker:
    """Every stream this server has open or recently finished."""

    def __init__(
        self,
        *,
        replay_events: int = 4096,
        replay_bytes: int = 4 * 1024 * 1024,
        keep_finished: float = 300.0,
        max_finished: int = 1000,
    ) -> None:
        self.streams: dict[str, Stream] = {}
        self.replay_events = replay_events
        self.replay_bytes = replay_bytes
        self.keep_finished = keep_finished
        self.max_finished = max_finished

    def create(self, model: str, kernel_id: str) -> Stream:
        """A new stream with a fresh request id."""
        self._prune()
        stream = Stream(
            uuid.uuid4().hex,
            model,
            kernel_id,
            replay_events=self.replay_events,
            replay_bytes=self.replay_bytes,
        )
        self.streams[stream.rid] = stream
        return stream

    def get(self, rid: str) -> Stream | None:
        """The stream with this request id, if it is still kept."""
        return self.streams.get(rid)

    def _prune(self) -> None:
        now = time.monotonic()
        finished = [s for s in self.streams.values() if s.ended and s.subscribers == 0]
        old = [s for s in finished if now - s.created > self.keep_finished]
        excess = max(0, len(finished) - len(old) - self.max_finished)
        for stream in old + sorted(finished, key=lambda s: s.created)[:excess]:
            self.streams.pop(stream.rid, None)
