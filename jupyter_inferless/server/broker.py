"""Streams on the server: request ids, buffered events, subscribers waiting for more."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Stream:
    """One request's events as they arrive from the kernel.

    ``lines`` holds every event's JSON line (the replay buffer); subscribers read
    from a position and wait for more. ``consumed`` is the furthest position a
    subscriber has written out; the kernel gets credit as it advances.
    """

    rid: str
    model: str
    kernel_id: str
    lines: list[bytes] = field(default_factory=list)
    ended: bool = False
    error: str | None = None
    consumed: int = 0
    consumed_bytes: int = 0
    subscribers: int = 0
    created: float = field(default_factory=time.monotonic)
    on_consumed: Callable[[Stream], None] | None = None
    _waiter: asyncio.Future[None] | None = None

    def append(self, lines: list[bytes]) -> None:
        """Events arrived from the kernel."""
        self.lines.extend(lines)
        self._wake()

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
        self.consumed_bytes += sum(len(line) + 1 for line in self.lines[self.consumed : position])
        self.consumed = position
        if self.on_consumed is not None:
            self.on_consumed(self)

    async def wait(self, position: int, timeout: float) -> bool:
        """Wait until there is an event at ``position`` or the end; False on timeout."""
        if position < len(self.lines) or self.ended:
            return True
        if self._waiter is None or self._waiter.done():
            self._waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._waiter), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Broker:
    """Every stream this server has open or recently finished."""

    def __init__(self, keep_finished: float = 300.0, max_finished: int = 1000) -> None:
        self.streams: dict[str, Stream] = {}
        self.keep_finished = keep_finished
        self.max_finished = max_finished

    def create(self, model: str, kernel_id: str) -> Stream:
        """A new stream with a fresh request id."""
        self._prune()
        stream = Stream(uuid.uuid4().hex, model, kernel_id)
        self.streams[stream.rid] = stream
        return stream

    def get(self, rid: str) -> Stream | None:
        """The stream with this request id, if it is still kept."""
        return self.streams.get(rid)

    def fail_kernel(self, kernel_id: str, message: str) -> None:
        """End every open stream of a kernel with an in-band error."""
        for stream in list(self.streams.values()):
            if stream.kernel_id == kernel_id:
                stream.finish(message)

    def _prune(self) -> None:
        now = time.monotonic()
        finished = [s for s in self.streams.values() if s.ended]
        old = [s for s in finished if now - s.created > self.keep_finished]
        excess = max(0, len(finished) - len(old) - self.max_finished)
        for stream in old + sorted(finished, key=lambda s: s.created)[:excess]:
            self.streams.pop(stream.rid, None)
