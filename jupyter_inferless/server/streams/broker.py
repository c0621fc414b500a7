"""Every stream of the server: request ids, the replay budget, pruning on a timer."""

from __future__ import annotations

import uuid
from collections import OrderedDict

from traitlets import Any, Float, Instance, Int, Type, default
from traitlets.config import LoggingConfigurable

from ..observe.metrics import Metrics
from .clock import LoopClock, Timer
from .replay import EVENT_OVERHEAD, ReplayBudget
from .stream import MIB, Stream, Upstream
from .wakeup import Deadlines, Wakeup

__all__ = ["Broker"]


class Broker(LoggingConfigurable):
    """Every stream this server has open or recently finished, and their replay budget.

    The kept events of all streams share ``budget`` (see ReplayBudget). A finished
    stream is kept ``keep_finished`` seconds after it ended (and while a client reads
    it), at most ``max_finished`` of them, even once its events were evicted, so a client
    can still resume it (410 before the kept events) or learn that it ended (204); after
    that a resume gets 404. Pruning runs every ``prune_interval`` seconds once ``start``
    is called, and when a stream is created. Streams age, and the pruning and their grace
    periods run, on ``clock`` (``clock.py``).
    """

    replay_events = Int(
        4096, config=True, help="Delivered events kept per stream so a client can resume."
    )
    replay_bytes = Int(
        4 * MIB,
        config=True,
        help="Bytes of delivered events kept per stream so a client can resume.",
    )
    replay_budget_bytes = Int(
        256 * MIB,
        min=0,
        config=True,
        help=(
            "Bytes of the events kept across all streams, live and finished, delivered or "
            f"not (each event counts its data plus {EVENT_OVERHEAD} bytes). Over it, the "
            "oldest are evicted: finished streams' delivered events first, in the order the "
            "streams ended; then live streams', the stream that has held them longest first; "
            "last, the events of finished streams no client was sent, in the order they "
            "ended. A live stream's undelivered events count but are never evicted (the "
            "kernel's credit bounds them). Resuming before an evicted event gets 410, which "
            "says when events were dropped before any client was sent them."
        ),
    )
    keep_finished = Float(
        300.0,
        min=0.0,
        config=True,
        help=(
            "Seconds a finished stream is kept after it ended, so a client can resume it or "
            "learn that it ended (204); after that, resuming it gets 404."
        ),
    )
    max_finished = Int(1000, min=0, config=True, help="Finished streams kept at most.")
    prune_interval = Float(
        5.0,
        min=0.01,
        config=True,
        help="Seconds between looks for finished streams older than keep_finished.",
    )
    clock_class = Type(
        LoopClock,
        klass=object,
        config=True,
        help="The Clock the streams age and time out by (server/streams/clock.py): the "
        "event loop's; tests configure one they move by hand.",
    )
    clock = Any(help="The streams' Clock, an instance of clock_class unless given.")
    metrics = Instance(Metrics, args=(), help="The server's metrics: runs that end in error.")

    @default("clock")
    def _default_clock(self) -> object:
        return self.clock_class()

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.streams: dict[str, Stream] = {}
        self.budget = ReplayBudget(self.replay_budget_bytes)
        self._finished: OrderedDict[str, Stream] = OrderedDict()  # in the order they ended
        self._timer: Timer | None = None
        self.deadlines = Deadlines()  # the timeouts of every wait on the streams share timers

    def create(self, model: str, upstream: Upstream, grace: float) -> Stream:
        """A new stream with a fresh request id, fed by ``upstream``; cancelled ``grace``
        seconds after its last reader left."""
        self.prune()
        stream = Stream(
            uuid.uuid4().hex,
            model,
            upstream,
            grace,
            replay_events=self.replay_events,
            replay_bytes=self.replay_bytes,
            clock=self.clock,
            budget=self.budget,
            on_end=self._ended,
            wakeup=Wakeup(self.deadlines),
        )
        self.streams[stream.rid] = stream
        return stream

    def get(self, rid: str) -> Stream | None:
        """The stream with this request id, if it is still kept."""
        return self.streams.get(rid)

    def prune(self) -> list[str]:
        """Forget finished streams that ended too long ago, or beyond ``max_finished``.

        Streams a client is reading are kept. Returns the request ids forgotten.
        """
        now = self.clock()
        excess = len(self._finished) - self.max_finished
        doomed: list[Stream] = []
        for stream in self._finished.values():
            assert stream.ended_at is not None
            if len(doomed) >= excess and now - stream.ended_at <= self.keep_finished:
                break  # the rest ended later
            if stream.subscribers == 0:
                doomed.append(stream)
        for stream in doomed:
            del self._finished[stream.rid]
            self.streams.pop(stream.rid, None)
            self.budget.release(stream)
        return [stream.rid for stream in doomed]

    def start(self) -> None:
        """Prune every ``prune_interval`` seconds on the running event loop."""
        if self._timer is None:
            self._schedule()

    def stop(self) -> None:
        """Stop pruning on a timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        self._timer = self.clock.call_later(self.prune_interval, self._tick)

    def _tick(self) -> None:
        try:
            self.prune()
        finally:
            self._schedule()

    def _ended(self, stream: Stream) -> None:
        self._finished[stream.rid] = stream
        self.budget.ended(stream)
        if stream.error is not None:
            self.metrics.failed(stream.model, stream.error["kind"].value)
