"""The kernel's outbox as tables: coalescing, sequence numbers, credit, resends, ends.

Each case is a script run against an outbox with no thread and a clock of its own:
``open`` a request, queue an ``event`` (recording whether it was taken), ``end`` it,
``step`` the sender once, ``ack`` from the server, ``tick`` the clock. Frames are shown
as ``(seq, runs, buffer)`` with each run ``(rid, events, ended, error kind)``.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from jupyter_inferless.contract import StreamCancelled
from jupyter_inferless.kernel.channel import CANCELLED, RequestChannel
from jupyter_inferless.kernel.outbox import Outbox
from jupyter_inferless.protocol import ErrorKind, FrameMessage, run_error
from tests.support.waiting import until_sync

BIG = (1000, 1 << 20)
BOOM = run_error(ErrorKind.MODEL_ERROR, "RuntimeError: boom")
Shown = tuple[int, tuple[tuple[str, int, bool, str | None], ...], str]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**options: Any) -> tuple[Outbox, list[tuple[FrameMessage, list[bytes]]], Clock]:
    sent: list[tuple[FrameMessage, list[bytes]]] = []
    clock = Clock()
    outbox = Outbox(
        lambda frame, buffers: sent.append((frame, buffers)), clock=clock, thread=False, **options
    )
    return outbox, sent, clock


def show(frame: FrameMessage, buffers: list[bytes]) -> Shown:
    runs = tuple(
        (r["rid"], r["events"], r["ended"], r["error"]["kind"].value if r["error"] else None)
        for r in frame["runs"]
    )
    return frame["seq"], runs, b"".join(buffers).decode()


def play(script: list[tuple[Any, ...]], **options: Any) -> tuple[list[Shown], list[bool]]:
    """Run a script; return the frames sent and whether each ``event`` was taken."""
    outbox, sent, clock = make(**options)
    channels: dict[str, RequestChannel] = {}
    taken = []
    for op, *args in script:
        if op == "open":
            channels[args[0]] = outbox.open(args[0], args[1] if len(args) > 1 else BIG)
        elif op == "event":
            taken.append(outbox.try_put_event(channels[args[0]], args[1]))
        elif op == "hold":
            outbox.hold_event(channels[args[0]], args[1])
        elif op == "cancel":
            channels[args[0]].cancel()
        elif op == "end":
            channels[args[0]].end(args[1] if len(args) > 1 else None)
        elif op == "step":
            outbox.step()
        elif op == "ack":
            outbox.ack(args[0], args[1] if len(args) > 1 else {}, len(args) > 2 and args[2])
        elif op == "tick":
            clock.now += args[0]
        else:
            raise AssertionError(op)
    return [show(frame, buffers) for frame, buffers in sent], taken


@pytest.mark.parametrize(
    ("script", "frames"),
    [
        pytest.param([("open", "a"), ("step",)], [], id="nothing queued, nothing sent"),
        pytest.param(
            [("open", "a"), ("event", "a", "x"), ("step",)],
            [(1, (("a", 1, False, None),), "x\n")],
            id="one event, one frame",
        ),
        pytest.param(
            [("open", "a"), ("event", "a", "x"), ("event", "a", "y"), ("step",)],
            [(1, (("a", 2, False, None),), "x\ny\n")],
            id="events that queue up share a frame",
        ),
        pytest.param(
            [("open", "a"), ("event", "a", "x"), ("step",), ("event", "a", "y"), ("step",)],
            [(1, (("a", 1, False, None),), "x\n"), (2, (("a", 1, False, None),), "y\n")],
            id="sequence numbers count frames",
        ),
        pytest.param(
            [("open", "a"), ("open", "b"), ("event", "a", "1"), ("event", "b", "2"),
             ("event", "a", "3"), ("step",)],
            [(1, (("a", 1, False, None), ("b", 1, False, None), ("a", 1, False, None)),
              "1\n2\n3\n")],
            id="runs interleave in the order events were produced",
        ),
        pytest.param(
            [("open", "a"), ("event", "a", "x"), ("end", "a"), ("step",)],
            [(1, (("a", 1, True, None),), "x\n")],
            id="a clean end closes the run",
        ),
        pytest.param(
            [("open", "a"), ("end", "a", BOOM), ("step",)],
            [(1, (("a", 0, True, "model_error"),), "")],
            id="an error end carries its kind and no buffer bytes",
        ),
        pytest.param(
            [("open", "a"), ("end", "a"), ("end", "a", BOOM), ("step",)],
            [(1, (("a", 0, True, None),), "")],
            id="only the first end counts",
        ),
        pytest.param(
            [("open", "a"), ("open", "b"), ("event", "a", "x"), ("end", "a"),
             ("event", "b", "y"), ("end", "b", BOOM), ("step",)],
            [(1, (("a", 1, True, None), ("b", 1, True, "model_error")), "x\ny\n")],
            id="two requests end in one frame",
        ),
        pytest.param(
            [("open", "a"), ("event", "a", "aaaaa"), ("event", "a", "bbbbb"),
             ("event", "a", "ccccc"), ("step",), ("step",)],
            [(1, (("a", 2, False, None),), "aaaaa\nbbbbb\n"),
             (2, (("a", 1, False, None),), "ccccc\n")],
            id="a frame holds at most max_frame_bytes",
        ),
    ],
)  # fmt: skip
def test_frames(script: list[tuple[Any, ...]], frames: list[Shown]) -> None:
    assert play(script, max_frame_bytes=12)[0] == frames


@pytest.mark.parametrize(
    ("script", "taken"),
    [
        pytest.param(
            [("open", "a", (2, 100)), ("event", "a", "x"), ("event", "a", "y"),
             ("event", "a", "z")],
            [True, True, False],
            id="blocked when the events credit is spent",
        ),
        pytest.param(
            [("open", "a", (2, 100)), ("event", "a", "x"), ("event", "a", "y"),
             ("event", "a", "z"), ("ack", 0, {"a": [1, 0]}), ("event", "a", "z"),
             ("event", "a", "w")],
            [True, True, False, True, False],
            id="a grant unblocks as many events as it gives",
        ),
        pytest.param(
            [("open", "a", (10, 8)), ("event", "a", "1234567"), ("event", "a", "1")],
            [True, False],
            id="blocked when the bytes credit is spent (a line counts its newline)",
        ),
        pytest.param(
            [("open", "a", (10, 8)), ("event", "a", "1234567"), ("event", "a", "1"),
             ("ack", 0, {"a": [0, 2]}), ("event", "a", "1")],
            [True, False, True],
            id="a bytes grant unblocks",
        ),
        pytest.param(
            [("open", "a", (10, 4)), ("event", "a", "longer than the window"),
             ("event", "a", "x")],
            [True, False],
            id="an event larger than the window takes it all",
        ),
        pytest.param(
            [("open", "a", (10, 4)), ("event", "a", "x"), ("event", "a", "longer than it")],
            [True, False],
            id="an event larger than the window waits for all of it",
        ),
        pytest.param(
            [("open", "a", (2, 100)), ("open", "b", (2, 100)), ("event", "a", "x"),
             ("event", "a", "y"), ("event", "a", "z"), ("event", "b", "x")],
            [True, True, False, True],
            id="credit is per request",
        ),
        pytest.param(
            [("open", "a", (2, 100)), ("event", "a", "x"), ("event", "a", "y"),
             ("ack", 0, {"gone": [5, 500]}), ("event", "a", "z")],
            [True, True, False],
            id="a grant for another request changes nothing",
        ),
        pytest.param(
            [("open", "a"), ("event", "a", "1"), ("event", "a", "2"), ("event", "a", "3"),
             ("event", "a", "4"), ("step",), ("event", "a", "4")],
            [True, True, True, False, True],
            id="blocked while the queue is full, until the sender takes it",
        ),
    ],
)  # fmt: skip
def test_credit(script: list[tuple[Any, ...]], taken: list[bool]) -> None:
    assert play(script, max_pending=3)[1] == taken


@pytest.mark.parametrize(
    ("script", "seqs"),
    [
        pytest.param(
            [("open", "a"), ("event", "a", "x"), ("step",), ("event", "a", "y"), ("step",),
             ("ack", 0, {}, True), ("step",)],
            [1, 2, 1, 2],
            id="a resend request sends every unacknowledged frame again",
        ),
        pytest.param(
            [("open", "a"), ("event", "a", "x"), ("step",), ("event", "a", "y"), ("step",),
             ("ack", 1, {}, True), ("event", "a", "z"), ("step",)],
            [1, 2, 2, 3],
            id="acknowledged frames are dropped; resent ones go before new ones",
        ),
        pytest.param(
            [("open", "a"), ("event", "a", "x"), ("step",), ("ack", 1, {}, True), ("step",)],
            [1],
            id="nothing to resend once everything is acknowledged",
        ),
        pytest.param(
            [("open", "a"), ("event", "a", "x"), ("step",), ("tick", 0.9), ("step",),
             ("tick", 0.1), ("step",), ("step",)],
            [1, 1],
            id="no acknowledgement for resend_after: sent again, once per period",
        ),
        pytest.param(
            [("open", "a"), ("event", "a", "x"), ("step",), ("tick", 0.6), ("ack", 0),
             ("tick", 0.6), ("step",), ("tick", 0.4), ("step",)],
            [1, 1],
            id="an acknowledgement, even of nothing new, restarts the wait",
        ),
        pytest.param(
            [("open", "a"), ("event", "a", "x"), ("step",), ("tick", 1.0), ("ack", 1),
             ("step",)],
            [1],
            id="an acknowledged last frame is never resent",
        ),
        pytest.param(
            [("open", "a"), ("event", "a", "x"), ("step",), ("tick", 5.0),
             ("event", "a", "y"), ("step",), ("step",)],
            [1, 2, 1, 2],
            id="the timeout resends once the queue is empty",
        ),
    ],
)  # fmt: skip
def test_resend(script: list[tuple[Any, ...]], seqs: list[int]) -> None:
    frames, _ = play(script)
    assert [seq for seq, _, _ in frames] == seqs
    first = {}
    for seq, runs, buffer in frames:
        assert first.setdefault(seq, (runs, buffer)) == (runs, buffer), "a resend is identical"


@pytest.mark.parametrize(
    ("script", "frames"),
    [
        pytest.param(
            [("open", "a", (2, 100)), ("hold", "a", "x"), ("hold", "a", "y"), ("hold", "a", "z"),
             ("step",)],
            [(1, (("a", 2, False, None),), "x\ny\n")],
            id="past the credit, events wait in the backlog",
        ),
        pytest.param(
            [("open", "a", (2, 100)), ("hold", "a", "x"), ("hold", "a", "y"), ("hold", "a", "z"),
             ("end", "a"), ("step",), ("ack", 1, {"a": [5, 100]}), ("step",)],
            [(1, (("a", 2, False, None),), "x\ny\n"), (2, (("a", 1, True, None),), "z\n")],
            id="credit releases the backlog in order, then the end held behind it",
        ),
        pytest.param(
            [("open", "a", (1, 100)), ("open", "b"), ("hold", "a", "x"), ("hold", "a", "y"),
             ("hold", "b", "1"), ("step",)],
            [(1, (("a", 1, False, None), ("b", 1, False, None)), "x\n1\n")],
            id="one request's backlog does not hold back another",
        ),
        pytest.param(
            [("open", "a", (1, 100)), ("hold", "a", "x"), ("hold", "a", "y"), ("end", "a"),
             ("cancel", "a"), ("step",), ("ack", 1, {"a": [5, 100]}), ("step",)],
            [(1, (("a", 1, False, None),), "x\n"), (2, (("a", 0, True, "cancelled"),), "")],
            id="a cancel drops the backlog and ends with the cancel",
        ),
        pytest.param(
            [("open", "a", (1, 100)), ("hold", "a", "x"), ("hold", "a", "y"), ("step",),
             ("hold", "a", "z"), ("ack", 1, {"a": [1, 100]}), ("step",)],
            [(1, (("a", 1, False, None),), "x\n"), (2, (("a", 1, False, None),), "y\n")],
            id="a held event never overtakes the backlog",
        ),
    ],
)  # fmt: skip
def test_backlog(script: list[tuple[Any, ...]], frames: list[Shown]) -> None:
    assert play(script)[0] == frames


def test_text_frames_carry_the_events_in_the_message_and_no_buffer() -> None:
    outbox, sent, _ = make(text_frames=True)
    channel = outbox.open("a", BIG)
    outbox.try_put_event(channel, '{"i":0}')
    outbox.try_put_event(channel, '{"i":1}')
    channel.end(None)
    outbox.step()
    ((message, buffers),) = sent
    assert buffers == [] and message["text"] == '{"i":0}\n{"i":1}\n'
    assert [(r["rid"], r["events"], r["ended"]) for r in message["runs"]] == [("a", 2, True)]


def test_cancel_ends_with_the_first_reason_and_refuses_events() -> None:
    outbox, _, clock = make()
    channel = outbox.open("a", BIG)
    stopped = run_error(ErrorKind.CANCELLED, "the model was stopped")
    channel.cancel(stopped)
    clock.now += 1
    channel.cancel()
    assert channel.cancel_reason == stopped and channel.cancelled_at == clock.now - 1
    with pytest.raises(StreamCancelled):
        outbox.try_put_event(channel, "x")
    assert outbox.open("b", BIG).cancel_reason == CANCELLED


def test_cancel_by_request_id() -> None:
    outbox, _, _ = make()
    channel = outbox.open("a", BIG)
    outbox.cancel("nobody")
    outbox.cancel("a")
    assert channel.cancelled.is_set() and channel.cancel_reason["kind"] is ErrorKind.CANCELLED


def test_an_ended_request_takes_no_more_credit() -> None:
    outbox, _, _ = make()
    channel = outbox.open("a", (1, 100))
    channel.end(None)
    outbox.ack(0, {"a": [5, 500]}, False)
    assert "a" not in outbox.channels and channel.credit_events == 1


def test_closing_the_link_cancels_every_request() -> None:
    outbox, _, _ = make()
    channels = [outbox.open(rid, BIG) for rid in "ab"]
    outbox.close()
    assert all(channel.cancelled.is_set() for channel in channels)
    with pytest.raises(StreamCancelled):
        outbox.try_put_event(channels[0], "x")


def waiting_threads(outbox: Outbox) -> int:
    """How many threads wait on the outbox's condition (a look inside CPython's Condition,
    which lists them)."""
    with outbox.cond:
        return len(outbox.cond._waiters)  # type: ignore[attr-defined]


def test_a_blocked_model_wakes_on_credit_and_on_cancel() -> None:
    outbox, _, _ = make(request_backlog_bytes=0)  # no backlog: a model waits at its credit
    granted, cancelled = outbox.open("a", (1, 100)), outbox.open("b", (1, 100))
    outbox.try_put_event(granted, "x")
    outbox.try_put_event(cancelled, "x")
    outcomes: dict[str, str] = {}

    def send(channel: RequestChannel) -> None:
        try:
            channel.event("y")
            outcomes[channel.rid] = "sent"
        except StreamCancelled:
            outcomes[channel.rid] = "cancelled"

    threads = [threading.Thread(target=send, args=(channel,)) for channel in (granted, cancelled)]
    for thread in threads:
        thread.start()
    until_sync(lambda: waiting_threads(outbox) == 2, "both model threads waiting")
    assert outcomes == {}, "a model without credit waits"
    outbox.ack(0, {"a": [1, 0]}, False)
    cancelled.cancel()
    for thread in threads:
        thread.join(2.0)
    assert outcomes == {"a": "sent", "b": "cancelled"}


def test_the_sender_thread_sends_at_once() -> None:
    arrived = threading.Event()
    outbox = Outbox(lambda frame, buffers: arrived.set())
    try:
        outbox.open("a", BIG).event("x")
        assert arrived.wait(2.0)
    finally:
        outbox.close()


class Recorder:
    """A publish that notes each frame with the thread that sent it; acknowledges nothing."""

    def __init__(self) -> None:
        self.sent = threading.Condition()
        self.frames: list[tuple[int, str, str]] = []  # seq, thread name, text
        self.events = 0

    def __call__(self, frame: FrameMessage, buffers: list[bytes]) -> None:
        with self.sent:
            text = b"".join(buffers).decode()
            self.frames.append((frame["seq"], threading.current_thread().name, text))
            self.events += len(text.split())
            self.sent.notify_all()

    def wait_for(self, count: int) -> list[tuple[int, str, str]]:
        """The frames, once ``count`` events went out."""
        with self.sent:
            assert self.sent.wait_for(lambda: self.events >= count, 15), (
                f"{self.events} of {count} events went out"
            )
            return list(self.frames)


def test_a_due_event_leaves_from_the_model_thread_and_a_early_one_from_the_sender() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder, min_interval=0.05)
    try:
        channel = outbox.open("a", BIG)
        producer = threading.Thread(target=channel.event, args=("x",), name="model-thread")
        producer.start()
        producer.join(5)
        assert recorder.frames == [(1, "model-thread", "x\n")], "nothing had gone out: due"
        channel.event("y")  # within min_interval of x: it waits for the sender thread
        assert recorder.wait_for(2)[1][1:] == ("inferless-outbox", "y\n")
    finally:
        outbox.close()


def test_frames_from_many_model_threads_leave_in_sequence_with_every_event() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder, min_interval=0.0005)
    threads, per_thread = 16, 400
    try:
        channels = [outbox.open(f"r{n}", BIG) for n in range(threads)]

        def produce(channel: RequestChannel) -> None:
            for i in range(per_thread):
                channel.event(f"{channel.rid}.{i}")

        workers = [threading.Thread(target=produce, args=(c,)) for c in channels]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        frames = recorder.wait_for(threads * per_thread)
        assert [seq for seq, _, _ in frames] == list(range(1, len(frames) + 1)), (
            "published in sequence, none twice"
        )
        lines = "".join(text for _, _, text in frames).split()
        for channel in channels:
            mine = [line for line in lines if line.startswith(f"{channel.rid}.")]
            assert mine == [f"{channel.rid}.{i}" for i in range(per_thread)]
        assert {name for _, name, _ in frames} - {"inferless-outbox"}, (
            "model threads sent frames themselves"
        )
    finally:
        outbox.close()


def test_at_most_max_unacked_bytes_are_out_and_a_full_window_still_resends() -> None:
    """Regression: with credit for each of 150 queued runs the kernel ran a gigabyte of frames
    ahead of its server; now frames wait while ``max_unacked_bytes`` are unacknowledged."""
    script = [
        ("open", "a"), ("event", "a", "12345"), ("step",), ("event", "a", "6789"), ("step",),
        ("event", "a", "x"), ("step",), ("tick", 1.0), ("step",), ("ack", 2), ("step",),
    ]  # fmt: skip
    frames, _ = play(script, max_unacked_bytes=10)
    assert [(seq, text) for seq, _, text in frames] == [
        (1, "12345\n"), (2, "6789\n"), (1, "12345\n"), (2, "6789\n"), (3, "x\n")
    ]  # fmt: skip
