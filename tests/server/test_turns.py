"""TurnGate: a few callers per turn of the loop, the rest in later turns, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from jupyter_inferless.server.turns import TurnGate
from tests.support.stepped_loop import SteppedLoop, stepped_loop


@pytest.fixture
def stepped() -> Iterator[SteppedLoop]:
    with stepped_loop() as loop:
        yield loop


def test_a_burst_is_let_in_a_few_per_turn_in_arrival_order_with_io_between():
    async def scenario() -> tuple[list[tuple[int, int]], list[int]]:
        gate = TurnGate(per_turn=3)
        turn = 0
        admitted: list[tuple[int, int]] = []  # (caller, turn it ran in)
        io_turns: list[int] = []

        async def caller(n: int) -> None:
            await gate.enter()
            admitted.append((n, turn))

        def count_turns() -> None:  # a callback per turn, as the loop's reads are
            nonlocal turn
            turn += 1
            io_turns.append(turn)
            if len(admitted) < 10:
                asyncio.get_running_loop().call_soon(count_turns)

        asyncio.get_running_loop().call_soon(count_turns)
        await asyncio.gather(*(caller(n) for n in range(10)))
        return admitted, io_turns

    admitted, io_turns = asyncio.run(scenario())
    assert [n for n, _ in admitted] == list(range(10)), "in arrival order"
    per_turn: dict[int, int] = {}
    for _, turn in admitted:
        per_turn[turn] = per_turn.get(turn, 0) + 1
    assert max(per_turn.values()) <= 3
    assert len(per_turn) >= 4, "10 callers, 3 a turn: at least four turns"
    assert len(io_turns) >= len(per_turn), "other callbacks ran between the batches"


def test_each_stepped_turn_lets_in_the_next_few_in_arrival_order(stepped: SteppedLoop):
    gate = TurnGate(per_turn=3, loop=lambda: stepped)
    tickets = [gate.ticket() for _ in range(10)]
    assert tickets[:3] == [None, None, None], "the first turn has room for three"
    waiters = [ticket for ticket in tickets if ticket is not None]
    assert gate.waiting == 7 and stepped.pending == 1, "one turn scheduled, not one each"
    let_in: list[list[int]] = []
    while stepped.turn():
        let_in.append([n for n, waiter in enumerate(waiters, 3) if waiter.done()])
    assert let_in == [
        [3, 4, 5],
        [3, 4, 5, 6, 7, 8],
        [3, 4, 5, 6, 7, 8, 9],
        [3, 4, 5, 6, 7, 8, 9],  # a last turn that let nobody in: the gate goes idle
    ]
    assert gate.waiting == 0 and not stepped.pending


def test_a_lone_caller_waits_for_nothing_and_a_cancelled_waiter_is_skipped(
    stepped: SteppedLoop,
):
    gate = TurnGate(per_turn=1, loop=lambda: stepped)
    assert gate.ticket() is None, "the first caller is in at once"
    second, third = gate.ticket(), gate.ticket()
    assert second is not None and third is not None and gate.waiting == 2
    second.cancel()
    stepped.turn()
    assert third.done() and not third.cancelled(), "the next turn skips the one who left"
    assert gate.waiting == 0


def test_entering_counts_callers_let_in_on_the_running_loop():
    async def scenario() -> tuple[int, int]:
        gate = TurnGate(per_turn=1)
        await gate.enter()
        third = asyncio.ensure_future(gate.enter())
        second = gate.ticket()  # taken before the task above first runs: its place is first
        assert second is not None
        second.cancel()
        await third
        return gate.entered, gate.waiting

    assert asyncio.run(scenario()) == (2, 0)


def test_per_turn_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        TurnGate(0)
