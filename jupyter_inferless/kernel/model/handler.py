"""The ``stream_output_handler`` a model's ``infer`` receives."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from ...contract.errors import OutputError, StreamCancelled, StreamFinishedError
from ...protocol import ErrorKind, RunError, run_error_from
from .outputs import OutputChecker


class EventSink(Protocol):
    """Where a stream's encoded events go (the kernel's outbox, or a test list)."""

    def event(self, line: str) -> None:
        """Take one event as a line of JSON; may block while the client catches up."""

    async def aevent(self, line: str) -> None:
        """Take one event; awaits, never blocking the event loop, while the client catches up."""

    def end(self, error: RunError | None) -> None:
        """End the stream, with an in-band error or cleanly."""


class StreamOutputHandler:
    """Sends a model's partial results; Inferless's ``stream_output_handler``.

    Once the request is cancelled (DELETE, or no client came back within the
    grace period), the next ``send_streamed_output`` raises StreamCancelled so
    the model's loop ends.
    """

    def __init__(self, sink: EventSink, cancelled: threading.Event | None = None) -> None:
        self._sink = sink
        self._cancelled = cancelled or threading.Event()
        self._checker = OutputChecker()
        self._lock = threading.Lock()
        self.finished = False

    @property
    def events_sent(self) -> int:
        """How many events went out."""
        return self._checker.count

    @property
    def cancelled(self) -> bool:
        """Whether the request was cancelled; a model may poll this."""
        return self._cancelled.is_set()

    def send_streamed_output(self, output: dict[str, Any]) -> None:
        """Send one partial result: a dict with the same keys and types every time.

        On a worker thread it waits while the client is too far behind. From an async
        ``infer`` it never waits (that would stop the model's other requests): too far
        behind, the request is cancelled; ``await asend(output)`` waits instead.
        """
        with self._lock:
            self._sink.event(self._encode(output))

    async def asend(self, output: dict[str, Any]) -> None:
        """Send one partial result from an ``async def infer``; awaits while the client is
        too far behind, and the model's event loop runs its other requests meanwhile."""
        with self._lock:
            line = self._encode(output)
        await self._sink.aevent(line)

    def _encode(self, output: dict[str, Any]) -> str:
        """The output as a line of JSON (under the lock); ends the stream on an OutputError."""
        if self._cancelled.is_set():
            raise StreamCancelled("the request was cancelled")
        if self.finished:
            raise StreamFinishedError("an output was sent after finalise_streamed_output")
        try:
            return self._checker.encode(output)
        except OutputError as err:
            self._finish(run_error_from(err, ErrorKind.OUTPUT_ERROR))
            raise

    def finalise_streamed_output(self) -> None:
        """End the stream; calling it again does nothing."""
        with self._lock:
            self._finish(None)

    finalize_streamed_output = finalise_streamed_output

    def fail(self, error: RunError) -> bool:
        """End the stream with an in-band error; False if it had already ended."""
        with self._lock:
            if self.finished:
                return False
            self._finish(error)
            return True

    def _finish(self, error: RunError | None) -> None:
        if not self.finished:
            self.finished = True
            self._sink.end(error)
