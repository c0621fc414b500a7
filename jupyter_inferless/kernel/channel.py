"""One request's side of the outbox: its credit, its backlog, its cancel; the EventSink its
stream handler writes to."""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..protocol import ErrorKind, RunError, run_error

if TYPE_CHECKING:
    from .outbox import Outbox

CANCELLED = run_error(ErrorKind.CANCELLED, "the request was cancelled")
SLOT_BYTES = 8  # a held event's slot in its backlog, beyond the string itself


def held_cost(line: str) -> int:
    """What holding ``line`` in a backlog costs in memory: the string object and its slot."""
    return sys.getsizeof(line) + SLOT_BYTES


class RequestChannel:
    """One request's side of the outbox; the EventSink its stream handler writes to.

    ``waits_for_credit`` is True for a model on a worker thread, which may wait in
    ``send_streamed_output``; False for a model on an event loop, which never does (see
    ``Intake``).
    """

    def __init__(self, outbox: Outbox, rid: str, credit: tuple[int, int]) -> None:
        self.outbox = outbox
        self.rid = rid
        self.cancelled = threading.Event()
        self.cancelled_at: float | None = None  # when the first cancel came (outbox clock)
        self.cancel_reason = CANCELLED
        self.credit_events, self.credit_bytes = credit
        self.window_bytes = credit[1]
        self.ended = False
        self.waits_for_credit = True  # False for models on an event loop: see Intake
        self.backlog: deque[str] = deque()  # events past the credit, in order
        self.backlog_bytes = 0  # what they cost (held_cost)
        self.held_end: tuple[RunError | None] | None = None  # the end, behind the backlog
        self.on_cancel: Callable[[], None] | None = None  # e.g. cancels an async model's task

    def blocked(self, size: int) -> bool:
        """Out of credit; an event larger than the whole window waits for all of it."""
        if self.credit_events <= 0:
            return True
        return self.credit_bytes < min(size, self.window_bytes)

    def event(self, line: str) -> None:
        """Queue one event: a model thread waits while the request is past its bounds; a
        model's event loop never waits (past the bounds, the request is cancelled)."""
        if self.waits_for_credit:
            self.outbox.put_event(self, line)
        else:
            self.outbox.hold_event(self, line)

    async def aevent(self, line: str) -> None:
        """Queue one event; past the bounds, await room without blocking the event loop."""
        await self.outbox.aput_event(self, line)

    def end(self, error: RunError | None) -> None:
        """Queue the end of the stream."""
        self.outbox.put_end(self, error)

    def cancel(self, reason: RunError = CANCELLED) -> None:
        """Make the model's next send_streamed_output raise StreamCancelled; the stream
        ends with the first reason given."""
        with self.outbox.cond:
            if self.cancelled_at is None:
                self.cancelled_at = self.outbox.clock()
                self.cancel_reason = reason
            self.cancelled.set()
            self.outbox.cond.notify_all()
            self.outbox.wake_paused()
        if self.on_cancel is not None:
            self.on_cancel()
