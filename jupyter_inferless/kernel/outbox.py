"""Coalescing outbox: model events → sequence-numbered frames on one comm link.

Events go out at once while the link is quiet; when they queue up (or within
``min_interval`` of the last frame) they are batched into one frame. This caps the
comm message rate, so the notebook's IOPub rate limit never trips because of us.

Every frame carries a sequence number and is kept until the server acknowledges
it: a frame IOPub drops is sent again (on the server's request, or after
``resend_after`` seconds without an acknowledgement). Each request has a credit
of events and bytes granted by the server; a model that runs ahead of its client
blocks in send_streamed_output until credit returns.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..contract.errors import StreamCancelled

CANCELLED = "cancelled: the request was cancelled"
Publish = Callable[[dict[str, Any], list[bytes]], None]
Item = tuple[str, str | None, bool, str | None]  # rid, line, ended, error


class RequestChannel:
    """One request's side of the outbox; the EventSink its stream handler writes to."""

    def __init__(self, outbox: Outbox, rid: str, credit: tuple[int, int]) -> None:
        self.outbox = outbox
        self.rid = rid
        self.cancelled = threading.Event()
        self.cancelled_at: float | None = None
        self.cancel_reason = CANCELLED
        self.credit_events, self.credit_bytes = credit
        self.window_bytes = credit[1]
        self.ended = False

    def blocked(self, size: int) -> bool:
        """Out of credit; an event larger than the whole window waits for all of it."""
        if self.credit_events <= 0:
            return True
        return self.credit_bytes < min(size, self.window_bytes)

    def event(self, line: str) -> None:
        """Queue one event, waiting for credit while the client is behind."""
        self.outbox.put_event(self, line)

    def end(self, error: str | None) -> None:
        """Queue the end of the stream."""
        self.outbox.put_end(self, error)

    def cancel(self, reason: str = CANCELLED) -> None:
        """Make the model's next send_streamed_output raise StreamCancelled."""
        if self.cancelled_at is None:
            self.cancelled_at = time.monotonic()
            self.cancel_reason = reason
        self.cancelled.set()
        with self.outbox.cond:
            self.outbox.cond.notify_all()


class Outbox:
    """Frames for one link, sent from a background thread."""

    def __init__(
        self,
        publish: Publish,
        *,
        min_interval: float = 0.002,
        max_frame_bytes: int = 1 << 20,
        resend_after: float = 1.0,
        max_pending: int = 4096,
    ) -> None:
        self.publish = publish
        self.min_interval = min_interval
        self.max_frame_bytes = max_frame_bytes
        self.resend_after = resend_after
        self.max_pending = max_pending
        self.cond = threading.Condition()
        self.channels: dict[str, RequestChannel] = {}
        self._pending: list[Item] = []
        self._unacked: OrderedDict[int, tuple[dict[str, Any], list[bytes]]] = OrderedDict()
        self._seq = 0
        self._last_progress = time.monotonic()
        self._resend_now = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="inferless-outbox", daemon=True)
        self._thread.start()

    def open(self, rid: str, credit: tuple[int, int]) -> RequestChannel:
        """Start a request's channel."""
        channel = RequestChannel(self, rid, credit)
        with self.cond:
            self.channels[rid] = channel
        return channel

    def put_event(self, channel: RequestChannel, line: str) -> None:
        """Queue an event once the request has credit."""
        size = len(line) + 1
        with self.cond:
            while (channel.blocked(size) or len(self._pending) >= self.max_pending) and not (
                channel.cancelled.is_set() or self._closed
            ):
                self.cond.wait(0.5)
            if channel.cancelled.is_set() or self._closed:
                raise StreamCancelled("the request was cancelled")
            channel.credit_events -= 1
            channel.credit_bytes -= size
            wake = not self._pending
            self._pending.append((channel.rid, line, False, None))
            if wake:
                self.cond.notify_all()
        if wake:
            # The sender was idle: hand it the GIL now, or a tight model loop keeps it
            # for a whole switch interval (5 ms) before the event can leave.
            time.sleep(0)

    def put_end(self, channel: RequestChannel, error: str | None) -> None:
        """Queue the end of a request's stream."""
        with self.cond:
            if channel.ended:
                return
            channel.ended = True
            self.channels.pop(channel.rid, None)
            self._pending.append((channel.rid, None, True, error))
            self.cond.notify_all()

    def ack(self, seq: int, credit: dict[str, list[int]], resend: bool) -> None:
        """The server has every frame up to ``seq``; grant credit; maybe resend the rest."""
        with self.cond:
            while self._unacked and next(iter(self._unacked)) <= seq:
                self._unacked.popitem(last=False)
            self._last_progress = time.monotonic()
            for rid, (events, size) in credit.items():
                channel = self.channels.get(rid)
                if channel is not None:
                    channel.credit_events += events
                    channel.credit_bytes += size
            if resend and self._unacked:
                self._resend_now = True
            self.cond.notify_all()

    def close(self) -> None:
        """Stop sending; blocked models see StreamCancelled."""
        with self.cond:
            self._closed = True
            for channel in self.channels.values():
                channel.cancelled.set()
            self.cond.notify_all()

    def _run(self) -> None:
        last_send = 0.0
        while True:
            with self.cond:
                while not self._pending and not self._resend_now and not self._closed:
                    timeout = self._resend_timeout()
                    if timeout == 0.0:
                        self._resend_now = True
                        break
                    self.cond.wait(timeout)
                if self._closed:
                    return
                resend = self._resend_now
                self._resend_now = False
            if resend:
                self._resend_all()
            wait = last_send + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            with self.cond:
                items = self._take()
                self.cond.notify_all()  # producers waiting for room in the queue
            if items:
                self._send(items)
                last_send = time.monotonic()
                time.sleep(0)  # let the IOPub thread have the GIL to send the frame

    def _resend_timeout(self) -> float | None:
        if not self._unacked:
            return None
        return max(0.0, self._last_progress + self.resend_after - time.monotonic())

    def _take(self) -> list[Item]:
        size = 0
        for index, item in enumerate(self._pending):
            size += len(item[1] or "") + 1
            if size > self.max_frame_bytes and index > 0:
                items, self._pending = self._pending[:index], self._pending[index:]
                return items
        items, self._pending = self._pending, []
        return items

    def _send(self, items: list[Item]) -> None:
        runs: list[list[Any]] = []
        lines: list[str] = []
        for rid, line, ended, error in items:
            if not runs or runs[-1][0] != rid or runs[-1][2]:
                runs.append([rid, 0, False, None])
            run = runs[-1]
            if line is not None:
                run[1] += 1
                lines.append(line)
            if ended:
                run[2], run[3] = True, error
        buffer = ("\n".join(lines) + "\n").encode() if lines else b""
        with self.cond:
            self._seq += 1
            frame = {"op": "frame", "seq": self._seq, "runs": runs}
            if not self._unacked:
                self._last_progress = time.monotonic()
            self._unacked[self._seq] = (frame, [buffer])
        self.publish(frame, [buffer])

    def _resend_all(self) -> None:
        with self.cond:
            frames = list(self._unacked.values())
            self._last_progress = time.monotonic()
        for frame, buffers in frames:
            self.publish(frame, buffers)
