"""Coalescing outbox: model events → sequence-numbered frames on one comm link.

Events go out at once while the link is quiet; when they queue up (or within
``min_interval`` of the last frame) they are batched into one frame. This caps the
comm message rate, so the notebook's IOPub rate limit never trips because of us.

Every frame carries a sequence number and is kept until the server acknowledges it (at
most ``max_unacked_bytes`` and a frame are out): a frame IOPub drops is sent again (on the
server's request, or after ``resend_after`` s without an acknowledgement). Each request has a credit
of events and bytes granted by the server; past it, a request's events wait in its
backlog, up to byte bounds per request and per link, and then its model pauses: what may
join the queue, and how a model pauses, is ``intake.py``'s.

A background thread sends, a ``step`` at a time. A model thread whose event finds a
frame due (nothing went out for ``min_interval``) sends that frame itself: with many model
threads, a hand-over to the sender thread waits for the GIL behind all of them, and under
load the sender fell behind by hundreds of milliseconds. (A model's event loop never sends:
it queues and goes on.) The thread starts with a request and ends once no request is open
and every frame was sent and acknowledged, or at ``close``. Tests pass ``thread=False``
and a ``clock``, and call ``step`` themselves; nothing is sent inline then.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from ..protocol import (
    DEFAULT_BACKLOG_BYTES,
    DEFAULT_REQUEST_BACKLOG_BYTES,
    FrameMessage,
    Run,
    frame,
    run,
)
from .channel import RequestChannel
from .intake import Intake, Item

__all__ = ["Outbox"]
Publish = Callable[[FrameMessage, list[bytes]], None]


class Outbox(Intake):
    """Frames for one link."""

    def __init__(
        self,
        publish: Publish,
        *,
        min_interval: float = 0.002,
        max_frame_bytes: int = 1 << 20,
        resend_after: float = 1.0,
        max_pending: int = 4096,
        request_backlog_bytes: int = DEFAULT_REQUEST_BACKLOG_BYTES,
        backlog_bytes: int = DEFAULT_BACKLOG_BYTES,
        text_frames: bool = False,
        max_unacked_bytes: int = 8 << 20,
        clock: Callable[[], float] = time.monotonic,
        thread: bool = True,
    ) -> None:
        super().__init__(
            max_pending=max_pending,
            request_backlog_bytes=request_backlog_bytes,
            backlog_bytes=backlog_bytes,
            clock=clock,
        )
        self.publish = publish
        self.min_interval = min_interval
        self.max_frame_bytes = max_frame_bytes
        self.resend_after = resend_after
        self.text_frames = text_frames
        self._unacked: OrderedDict[int, tuple[FrameMessage, list[bytes]]] = OrderedDict()
        self.max_unacked_bytes, self.unacked_bytes = max_unacked_bytes, 0
        self._seq = 0
        self._last_progress = clock()
        self._last_send = 0.0
        self._resend_now = False
        self._sending = threading.Lock()  # one step at a time, so frames leave in sequence
        self._inline = thread
        self._thread: threading.Thread | None = None  # the sender, while there is work

    def open(self, rid: str, credit: tuple[int, int]) -> RequestChannel:
        """Start a request's channel (and the sender thread, if it is not running)."""
        channel = RequestChannel(self, rid, credit)
        with self.cond:
            self.channels[rid] = channel
            if self._inline and self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="inferless-outbox", daemon=True
                )
                self._thread.start()
        return channel

    def cancel(self, rid: str) -> None:
        """Cancel a request, if it is still running."""
        channel = self.channels.get(rid)
        if channel is not None:
            channel.cancel()

    def put_event(self, channel: RequestChannel, line: str) -> None:
        """A model thread's event: queued, or held; waits while the request is past its
        bounds (Intake). Sends the frame from this thread when one is due and no other
        thread is sending."""
        with self.cond:
            while not self.take_event(channel, line, wake=False):
                self.cond.wait(0.5)
            due = self._inline and self.clock() - self._last_send >= self.min_interval
            inline = due and self._sending.acquire(blocking=False)
            woke_sender = not inline and len(self._pending) == 1
            if woke_sender:
                self.cond.notify_all()  # the sender is idle: wake it
        if inline:
            try:
                sent = self.step()
            finally:
                self._sending.release()
            if sent:
                time.sleep(0)  # let the IOPub thread (and the notebook) have the GIL
        elif woke_sender:
            # Hand the sender the GIL now, or a tight model loop keeps it for a whole
            # switch interval (5 ms) before the event can leave.
            time.sleep(0)

    def ack(self, seq: int, credit: dict[str, list[int]], resend: bool) -> None:
        """The server has every frame up to ``seq``; grant credit; maybe resend the rest."""
        with self.cond:
            while self._unacked and next(iter(self._unacked)) <= seq:
                self.unacked_bytes -= _size(*self._unacked.popitem(last=False)[1])
            self._last_progress = self.clock()
            for rid, (events, size) in credit.items():
                channel = self.channels.get(rid)
                if channel is not None:
                    channel.credit_events += events
                    channel.credit_bytes += size
            if resend and self._unacked:
                self._resend_now = True
            self.release_backlogs()
            self.cond.notify_all()
            self.wake_paused()

    def flush(self, timeout: float) -> None:
        """Send what is queued from this thread, for up to ``timeout`` s (before a close)."""
        deadline = time.monotonic() + timeout
        if not self._sending.acquire(timeout=timeout):
            return
        try:
            while self.step() and time.monotonic() < deadline:
                pass
        finally:
            self._sending.release()

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the sender thread to end (after ``close``)."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def step(self) -> bool:
        """Send what is due: every unacknowledged frame again when a resend is due, then
        one frame of what is queued. Returns whether a new frame went out.

        A resend is due when the server asked, or when nothing can go (none queued, or the
        unacknowledged bytes at their bound) and nothing was acknowledged for ``resend_after``
        seconds (which covers a lost last frame).
        """
        with self.cond:
            resend = self._resend_now or (not self._ready() and self._resend_due())
            self._resend_now = False
            frames = list(self._unacked.values()) if resend else []
            if resend:
                self._last_progress = self.clock()
            items = self._take() if self._ready() else []
            self.release_backlogs()
            self.cond.notify_all()  # producers waiting for room in the queue
        for message, buffers in frames:
            self.publish(message, buffers)
        if items:
            self._send(items)
        return bool(items)

    def _run(self) -> None:
        while True:
            with self.cond:
                while not (self._ready() or self._resend_now or self._closed or self._resend_due()):
                    if not (self.channels or self._unacked or self._backlogged):
                        self._thread = None  # idle for good: open() starts another
                        return
                    self.cond.wait(self._resend_timeout())
                if self._closed:
                    return
            wait = self._last_send + self.min_interval - self.clock()
            if wait > 0:
                time.sleep(wait)  # batch what queues meanwhile
            with self._sending:
                sent = self.step()
            if sent:
                time.sleep(0)  # let the IOPub thread have the GIL to send the frame

    def _ready(self) -> bool:
        return bool(self._pending) and self.unacked_bytes < self.max_unacked_bytes

    def _resend_due(self) -> bool:
        return bool(self._unacked) and self.clock() - self._last_progress >= self.resend_after

    def _resend_timeout(self) -> float | None:
        if not self._unacked:
            return None
        return max(0.0, self._last_progress + self.resend_after - self.clock())

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
        runs: list[Run] = []
        lines: list[str] = []
        for rid, line, error in items:
            if not runs or runs[-1]["rid"] != rid or runs[-1]["ended"]:
                runs.append(run(rid))
            current = runs[-1]
            if line is None:
                current["ended"], current["error"] = True, error
            else:
                current["events"] += 1
                lines.append(line)
        text = "\n".join(lines) + "\n" if lines else ""
        with self.cond:
            self._seq += 1
            if self.text_frames:
                message, buffers = frame(self._seq, runs, text), []
            else:
                message, buffers = frame(self._seq, runs), [text.encode()]
            if not self._unacked:
                self._last_progress = self.clock()
            self._unacked[self._seq] = (message, buffers)
            self.unacked_bytes += _size(message, buffers)
        self.publish(message, buffers)
        self._last_send = self.clock()


def _size(message: FrameMessage, buffers: list[bytes]) -> int:
    return len(buffers[0]) if buffers else len(message.get("text", ""))
