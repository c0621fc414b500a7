"""Backlogs past the credit, bounded in bytes per request and per link: what pauses, what not.

An outbox with no sender thread and a clock of its own, as in test_outbox.py; each held
event costs ``held_cost`` (its string's size and its slot).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from jupyter_inferless import protocol
from jupyter_inferless.contract import StreamCancelled
from jupyter_inferless.kernel.channel import RequestChannel, held_cost
from jupyter_inferless.kernel.link import Link
from jupyter_inferless.kernel.model import StreamOutputHandler
from jupyter_inferless.kernel.outbox import Outbox
from tests.support.waiting import until, until_sync

LINE = '{"x":"' + "x" * 50 + '"}'  # OUTPUT as its handler encodes it
OUTPUT = {"x": "x" * 50}
COST = held_cost(LINE)
NO_CREDIT = (0, 0)
BIG = (1000, 1 << 20)


def make(request_events: int = 2, total_events: int = 100) -> Outbox:
    """An outbox whose bounds let a request hold ``request_events`` events of LINE, and
    all of them ``total_events``."""
    return Outbox(
        lambda frame, buffers: None,
        thread=False,
        clock=lambda: 0.0,
        request_backlog_bytes=COST * (request_events - 1) + 1,
        backlog_bytes=COST * (total_events - 1) + 1,
    )


def paused(outbox: Outbox) -> bool:
    """Whether an async producer awaits room (a look inside the outbox's intake)."""
    with outbox.cond:
        return bool(outbox._paused)


def thread_paused(outbox: Outbox) -> bool:
    """Whether a model thread waits for room (the outbox has no sender thread to wait:
    a look inside CPython's Condition, which lists the threads waiting on it)."""
    with outbox.cond:
        return bool(outbox.cond._waiters)  # type: ignore[attr-defined]


def fill(outbox: Outbox, channel: RequestChannel) -> int:
    """Hold events until the request's producer would pause; how many were held."""
    count = 0
    with outbox.cond:
        while outbox.take_event(channel, LINE):
            count += 1
    return count


def test_a_model_thread_past_its_bound_waits_and_only_it() -> None:
    outbox = make(request_events=2)
    slow, fast = outbox.open("slow", NO_CREDIT), outbox.open("fast", BIG)
    slow.event(LINE)
    slow.event(LINE)  # two held past the credit: the backlog is at its bound
    assert (slow.backlog_bytes, outbox.backlog_held) == (2 * COST, 2 * COST)
    sent = threading.Event()
    waiter = threading.Thread(target=lambda: (slow.event(LINE), sent.set()), daemon=True)
    waiter.start()
    until_sync(lambda: thread_paused(outbox), "the third event's thread pausing")
    assert not sent.is_set(), "the third event waits on its thread"
    for _ in range(50):
        fast.event(LINE)  # another request of the link is not held up
    outbox.ack(0, {"slow": [1, 1000]}, False)  # credit for one: the backlog shrinks
    assert sent.wait(5), "credit wakes the paused thread"
    waiter.join(5)
    assert slow.backlog_bytes == 2 * COST


def test_a_sync_send_on_an_event_loop_past_its_bound_cancels_only_that_request() -> None:
    outbox = make(request_events=2)
    slow, other = outbox.open("slow", NO_CREDIT), outbox.open("other", NO_CREDIT)
    slow.waits_for_credit = other.waits_for_credit = False
    assert fill(outbox, slow) == 2
    handler = StreamOutputHandler(slow, slow.cancelled)
    with pytest.raises(StreamCancelled, match="asend"):
        handler.send_streamed_output(OUTPUT)  # never blocks: the request is cut
    assert slow.cancelled.is_set() and slow.cancel_reason["kind"] is protocol.ErrorKind.CANCELLED
    assert "await stream_output_handler.asend" in slow.cancel_reason["message"]
    other.event(LINE)
    assert not other.cancelled.is_set() and len(other.backlog) == 1
    handler.fail(slow.cancel_reason)
    assert outbox.backlog_held == COST, "the cut request's backlog is dropped"


def test_asend_awaits_room_while_the_loop_runs_on() -> None:
    outbox = make(request_events=2)
    slow = outbox.open("slow", NO_CREDIT)
    slow.waits_for_credit = False
    handler = StreamOutputHandler(slow, slow.cancelled)
    ticks: list[int] = []

    async def producer() -> None:
        for _ in range(3):
            await handler.asend(OUTPUT)

    async def tick(i: int) -> None:
        ticks.append(i)

    async def scenario() -> None:
        produce = asyncio.ensure_future(producer())
        await until(lambda: paused(outbox), "the third asend awaiting room")
        await asyncio.gather(*(tick(i) for i in range(20)))  # other tasks run meanwhile
        assert not produce.done(), "the third event awaits room"
        assert len(slow.backlog) == 2 and not slow.cancelled.is_set()
        await asyncio.get_running_loop().run_in_executor(
            None, outbox.ack, 0, {"slow": [1, 1000]}, False
        )
        await asyncio.wait_for(produce, 5)

    asyncio.run(scenario())
    assert ticks == list(range(20)), "the loop ran the other task meanwhile"
    assert len(slow.backlog) == 2 and slow.credit_events == 0


def test_asend_of_a_cancelled_request_raises() -> None:
    outbox = make(request_events=1)
    channel = outbox.open("a", NO_CREDIT)
    channel.waits_for_credit = False
    handler = StreamOutputHandler(channel, channel.cancelled)

    async def scenario() -> None:
        await handler.asend(OUTPUT)
        waiting = asyncio.ensure_future(handler.asend(OUTPUT))
        await until(lambda: paused(outbox), "the second asend awaiting room")
        channel.cancel()
        with pytest.raises(StreamCancelled):
            await asyncio.wait_for(waiting, 5)

    asyncio.run(scenario())


def test_the_link_bound_pauses_the_request_that_would_add_and_spares_one_with_credit() -> None:
    outbox = make(request_events=3, total_events=4)
    first, second = outbox.open("first", NO_CREDIT), outbox.open("second", NO_CREDIT)
    assert fill(outbox, first) == 3
    assert fill(outbox, second) == 1, "the link's bound stops the second request first"
    with_credit = outbox.open("fresh", BIG)
    for _ in range(10):
        with_credit.event(LINE)  # events with credit are never held: no pause
    assert len(with_credit.backlog) == 0
    first.cancel()
    with outbox.cond:
        outbox.release_backlogs()
    assert outbox.backlog_held == COST
    assert fill(outbox, second) == 2, "the cancel made room for the others"


def test_released_and_ended_backlogs_leave_nothing_counted() -> None:
    outbox = make(request_events=5)
    channel = outbox.open("a", NO_CREDIT)
    fill(outbox, channel)
    channel.end(None)  # the end waits behind the backlog
    outbox.ack(0, {"a": [10, 10_000]}, False)
    assert outbox.backlog_held == 0 and channel.backlog_bytes == 0
    outbox.step()
    assert "a" not in outbox.channels


def test_the_link_takes_its_bounds_from_the_server() -> None:
    class Comm:
        comm_id = "c1"

        def on_msg(self, callback: Any) -> None:
            pass

        def on_close(self, callback: Any) -> None:
            pass

    data = protocol.open_data("http://h/", backlog=(1234, 5678))
    link = Link(None, Comm(), {"content": {"data": data}}, lambda *a: None, lambda link: None)
    assert (link.outbox.request_backlog_bytes, link.outbox.backlog_bytes) == (1234, 5678)
    old = Link(None, Comm(), {"content": {"data": {}}}, lambda *a: None, lambda link: None)
    assert old.outbox.backlog_bytes == protocol.DEFAULT_BACKLOG_BYTES
