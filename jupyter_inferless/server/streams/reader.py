"""One subscriber's read of a stream: events from a position, heartbeats while idle, the end.

Every reader of a stream (the SSE writer, a kernel's inline view, a one-shot request)
runs this one loop::

    with stream.reader(position, heartbeat) as reader:
        async for item in reader:
            ...  # Events: deliver them; Idle: a heartbeat; End: the last item

Asking for the next item advances the stream past the batch before it, so the kernel's
credit flows as the reader delivers; a batch being delivered when the reader leaves
normally counts as delivered, and one whose delivery raised does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...protocol import ErrorKind, RunError, run_error
from ..errors import EventsEvicted

if TYPE_CHECKING:
    from types import TracebackType

    from .stream import Stream


@dataclass(frozen=True, slots=True)
class Events:
    """Events ``position``, ``position + 1``, ...; ``last``: the stream ends after them."""

    position: int
    lines: list[bytes]
    last: bool


@dataclass(frozen=True, slots=True)
class Idle:
    """Nothing new for a heartbeat interval."""

    position: int


@dataclass(frozen=True, slots=True)
class End:
    """The end, after event ``position - 1``: the stream's error, if any, or ``evicted``
    (this reader fell behind the events the stream keeps, and its error says so)."""

    position: int
    error: RunError | None
    evicted: bool = False


Item = Events | Idle | End


class Reader:
    """A subscription to ``stream`` and its events from ``position``; see the module."""

    def __init__(
        self, stream: Stream, position: int, heartbeat: float, max_bytes: int | None = None
    ) -> None:
        """``heartbeat``: seconds with nothing new before an Idle; ``max_bytes``: the size
        of a batch of events (one event at least); None, all there are."""
        self.stream = stream
        self.position = position
        self.heartbeat = heartbeat
        self.max_bytes = max_bytes
        self._reading = False  # a batch was handed out and not yet counted as delivered
        self._ended = False

    def __enter__(self) -> Reader:
        self.stream.subscribe()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self._delivered()
        self.stream.unsubscribe()

    def __aiter__(self) -> Reader:
        return self

    async def __anext__(self) -> Item:
        """The next batch of events, an Idle after ``heartbeat`` seconds, or the End."""
        self._delivered()
        stream = self.stream
        position = self.position
        if self._ended:
            raise StopAsyncIteration
        while position >= stream.total and not stream.ended:
            if not await stream.wait(position, self.heartbeat):
                return Idle(position)
        if position < stream.total:
            try:
                lines = stream.read(position, self.max_bytes)
            except EventsEvicted as err:
                self._ended = True
                return End(position, run_error(ErrorKind.EVENTS_EVICTED, str(err)), True)
            self.position = end = position + len(lines)
            self._reading = True
            return Events(position, lines, stream.ended and end == stream.total)
        self._ended = True
        return End(position, stream.error)

    def _delivered(self) -> None:
        if self._reading:
            self._reading = False
            self.stream.advance(self.position)
