"""Wakeup: waits end on a wake or after their timeout, never early, and leave nothing behind."""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_inferless.server.streams.broker import Broker
from jupyter_inferless.server.streams.wakeup import RESOLUTION, Deadlines, Wakeup
from tests.support.upstream import RecordingKernel


def run(coroutine: Any) -> Any:
    """Run a scenario on a new loop."""
    return asyncio.run(coroutine)


def test_a_wake_ends_every_current_wait_and_not_later_ones():
    async def scenario() -> tuple[list[bool], bool]:
        signal = Wakeup()
        waits = [asyncio.ensure_future(signal.wait(10)) for _ in range(3)]
        asyncio.get_running_loop().call_soon(signal.wake)  # after the waits began: in order
        woken = await asyncio.gather(*waits)
        later = await signal.wait(0.01)
        return woken, later

    woken, later = run(scenario())
    assert woken == [True, True, True]
    assert later is False, "a wait that starts after the wake waits for the next one"


def test_a_timeout_never_ends_early_and_comes_within_the_resolution():
    """The one timer that expires a timeout is due in the RESOLUTION slot after it."""

    async def scenario() -> tuple[float, float, float, bool, bool]:
        loop = asyncio.get_running_loop()
        deadlines, waiter = Deadlines(), loop.create_future()
        before = loop.time()
        deadlines.add(waiter, 0.12)
        after = loop.time()
        (timer,) = loop._scheduled  # type: ignore[attr-defined]
        return before, after, timer.when(), await waiter, await Wakeup().wait(0.01)

    before, after, due, expired, woken = run(scenario())
    assert before + 0.12 <= due < after + 0.12 + RESOLUTION
    assert expired is False and woken is False, "a timeout ends a wait with False"


def test_waits_share_one_timer_per_slot_and_are_forgotten_when_they_end():
    async def scenario() -> tuple[int, int, int, int]:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines()  # what an owner of many waits (the broker) holds
        signals = [Wakeup(deadlines) for _ in range(500)]
        waits = [asyncio.ensure_future(s.wait(30)) for s in signals]
        counted: list[int] = []

        def count_then_wake() -> None:  # called after the waits began: the loop keeps order
            counted.extend([len(deadlines.slots), len(loop._scheduled)])  # type: ignore[attr-defined]
            for s in signals:
                s.wake()

        loop.call_soon(count_then_wake)
        await asyncio.gather(*waits)
        slots, timers = counted
        held = sum(len(waiters) for waiters in deadlines.slots.values())
        idle = Wakeup(deadlines)
        for _ in range(20):  # timeouts without a wake leave no waiter behind
            await idle.wait(0.001)
        return slots, timers, held, len(idle._waiters)

    slots, timers, held, left = run(scenario())
    assert slots <= 2 and timers <= 3, "500 waits with one timeout share a timer"
    assert held == 0 and left == 0


def test_a_cancelled_wait_is_forgotten():
    async def scenario() -> tuple[int, int]:
        signal = Wakeup()
        waiting = asyncio.ensure_future(signal.wait(30))
        began: list[int] = []

        def cancel() -> None:  # called once the wait began: the loop keeps order
            began.append(len(signal._waiters))
            waiting.cancel()

        asyncio.get_running_loop().call_soon(cancel)
        await asyncio.gather(waiting, return_exceptions=True)
        return began[0], len(signal._waiters)

    assert run(scenario()) == (1, 0), "the wait began, then was forgotten"


def test_the_deadlines_belong_to_their_owner_not_to_the_process():
    """A broker's streams share its deadlines; another broker, or a lone Wakeup, has its own."""
    first, second, kernel = Broker(), Broker(), RecordingKernel()
    streams = [first.create("m", kernel, 30.0), first.create("m", kernel, 30.0)]
    assert all(stream.wakeup.deadlines is first.deadlines for stream in streams)
    assert second.create("m", kernel, 30.0).wakeup.deadlines is not first.deadlines
    assert Wakeup().deadlines is not Wakeup().deadlines
