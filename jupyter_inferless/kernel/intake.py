"""Events into an outbox's queue: each request's credit, its backlog past the credit, and
how a model pauses once both are used up.

A request's event joins the queue while the request has credit (events and bytes the
server granted, as its client reads). Past the credit, its events wait, in order, in the
request's backlog in the kernel, while that backlog holds less than
``request_backlog_bytes`` and every backlog of the link less than ``backlog_bytes`` (an
event costs what its string takes in memory: ``channel.held_cost``). Past either bound,
the request's producer pauses, and only it:

- a model on a worker thread waits in ``send_streamed_output`` (``put_event``);
- a model on an event loop awaits in ``await stream_output_handler.asend(...)``
  (``aput_event``), and the loop runs its other requests meanwhile;
- a plain ``send_streamed_output`` from an event loop (``hold_event``) cannot wait without
  stopping every request on that loop, so the request is cancelled instead, its in-band
  error saying to await ``asend``.

Credit from the server moves held events into the queue (``release_backlogs``) and wakes
the paused producers; so does a cancel, which drops the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from ..contract.errors import StreamCancelled, StreamFinishedError
from ..protocol import ErrorKind, RunError, run_error
from .channel import RequestChannel, held_cost

log = logging.getLogger("jupyter_inferless.kernel")
Item = tuple[str, str | None, RunError | None]  # rid, event line (None: the end), error
PAUSE_CHECK = 0.5  # seconds a paused producer waits before it looks again unwoken


class Intake:
    """The queue of one link's outbox and what may join it; ``Outbox`` sends it."""

    def __init__(
        self,
        *,
        max_pending: int,
        request_backlog_bytes: int,
        backlog_bytes: int,
        clock: Callable[[], float],
    ) -> None:
        self.max_pending = max_pending
        self.request_backlog_bytes = request_backlog_bytes
        self.backlog_bytes = backlog_bytes
        self.clock = clock
        self.cond = threading.Condition()  # re-entrant: put_event waits around try_put_event
        self.channels: dict[str, RequestChannel] = {}
        self.backlog_held = 0  # what every backlog of the link costs
        self._backlogged: set[RequestChannel] = set()  # channels holding events back
        self._pending: list[Item] = []
        self._paused: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._closed = False

    def try_put_event(self, channel: RequestChannel, line: str, wake: bool = True) -> bool:
        """Queue an event if the request has credit and the queue has room; ``wake`` the
        sender thread when the queue was empty.

        Raises StreamCancelled once the request is cancelled or the link closed.
        """
        size = len(line) + 1
        with self.cond:
            if channel.cancelled.is_set() or self._closed:
                raise StreamCancelled("the request was cancelled")
            if channel.blocked(size) or len(self._pending) >= self.max_pending:
                return False
            channel.credit_events -= 1
            channel.credit_bytes -= size
            if not self._pending and wake:
                self.cond.notify_all()  # the sender is idle: wake it
            self._pending.append((channel.rid, line, None))
            return True

    def take_event(self, channel: RequestChannel, line: str, wake: bool = True) -> bool:
        """Queue an event (when nothing is held before it and there is credit) or hold it
        (while the request and the link are within their bounds); False: neither, the
        producer must pause. StreamCancelled once cancelled; StreamFinishedError after
        the end. Call under ``cond``."""
        if channel.ended:
            raise StreamFinishedError("an event was sent after finalise_streamed_output")
        if not channel.backlog and self.try_put_event(channel, line, wake):
            return True
        if channel.cancelled.is_set() or self._closed:
            raise StreamCancelled("the request was cancelled")
        if self.over_bounds(channel):
            return False
        cost = held_cost(line)
        channel.backlog.append(line)
        channel.backlog_bytes += cost
        self.backlog_held += cost
        self._backlogged.add(channel)
        return True

    def over_bounds(self, channel: RequestChannel) -> bool:
        """Whether the request's backlog, or all of the link's, is at its bound."""
        return (
            channel.backlog_bytes >= self.request_backlog_bytes
            or self.backlog_held >= self.backlog_bytes
        )

    def hold_event(self, channel: RequestChannel, line: str) -> None:
        """An event from a model's event loop, which must never wait: queued or held; past
        the bounds the request is cancelled (StreamCancelled), the error naming ``asend``."""
        with self.cond:
            if self.take_event(channel, line):
                return
            reason = self._bound_reached(channel)
        log.warning("request %s cancelled: %s", channel.rid, reason["message"])
        channel.cancel(reason)
        raise StreamCancelled(reason["message"])

    async def aput_event(self, channel: RequestChannel, line: str) -> None:
        """An event an async model awaits: queued or held; past the bounds it awaits room
        (credit or a smaller backlog), and its event loop runs on meanwhile."""
        loop = asyncio.get_running_loop()
        while True:
            with self.cond:
                if self.take_event(channel, line):
                    return
                waiter = (loop, asyncio.Event())
                self._paused.add(waiter)
            try:
                await asyncio.wait_for(waiter[1].wait(), PAUSE_CHECK)
            except asyncio.TimeoutError:
                pass
            finally:
                with self.cond:
                    self._paused.discard(waiter)

    def wake_paused(self) -> None:
        """Wake every paused async producer to look again (under ``cond``)."""
        paused, self._paused = self._paused, set()
        for loop, room in paused:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(room.set)

    def close(self) -> None:
        """Stop taking events: every producer, paused or not, gets StreamCancelled."""
        with self.cond:
            self._closed = True
            channels = list(self.channels.values())
            for channel in channels:
                channel.cancelled.set()
            self.cond.notify_all()
            self.wake_paused()
        for channel in channels:
            if channel.on_cancel is not None:
                channel.on_cancel()

    def put_end(self, channel: RequestChannel, error: RunError | None) -> None:
        """Queue the end of a request's stream (after its backlog, unless cancelled)."""
        with self.cond:
            if channel.ended:
                return
            channel.ended = True
            if channel.backlog and not channel.cancelled.is_set():
                channel.held_end = (error,)
                return
            self._drop_backlog(channel)
            self.channels.pop(channel.rid, None)
            self._pending.append((channel.rid, None, error))
            self.cond.notify_all()

    def release_backlogs(self) -> None:
        """Move held events that now have credit and room into the queue (under cond)."""
        released = False
        for channel in list(self._backlogged):
            while channel.backlog and not channel.cancelled.is_set():
                line = channel.backlog[0]
                size = len(line) + 1
                if channel.blocked(size) or len(self._pending) >= self.max_pending:
                    break
                channel.backlog.popleft()
                cost = held_cost(line)
                channel.backlog_bytes -= cost
                self.backlog_held -= cost
                channel.credit_events -= 1
                channel.credit_bytes -= size
                self._pending.append((channel.rid, line, None))
                released = True
            if channel.cancelled.is_set():
                released = self._drop_backlog(channel) or released
            if channel.backlog:
                continue
            self._backlogged.discard(channel)
            if channel.held_end is not None:
                error = channel.cancel_reason if channel.cancelled.is_set() else channel.held_end[0]
                self.channels.pop(channel.rid, None)
                self._pending.append((channel.rid, None, error))
                channel.held_end = None
        if released:
            self.wake_paused()

    def _drop_backlog(self, channel: RequestChannel) -> bool:
        """Forget a request's held events; whether there were any."""
        self._backlogged.discard(channel)
        if not channel.backlog:
            return False
        channel.backlog.clear()
        self.backlog_held -= channel.backlog_bytes
        channel.backlog_bytes = 0
        self.wake_paused()
        return True

    def _bound_reached(self, channel: RequestChannel) -> RunError:
        if channel.backlog_bytes >= self.request_backlog_bytes:
            bound = f"its {self.request_backlog_bytes} bytes"
        else:
            bound = f"the {self.backlog_bytes} bytes of all requests"
        return run_error(
            ErrorKind.CANCELLED,
            f"the client is behind and the events held for it reached {bound}; a model on "
            "an event loop cannot wait in send_streamed_output without stopping its other "
            "requests: it should `await stream_output_handler.asend(output)`",
        )
