"""TurnGate: a few callers per turn of the loop, the rest in later turns, in order."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_inferless.server.turns import TurnGate


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


def test_a_lone_caller_waits_for_nothing_and_a_cancelled_waiter_is_skipped():
    async def scenario() -> list[str]:
        gate = TurnGate(per_turn=1)
        order: list[str] = []
        await gate.enter()
        order.append("first")
        second = asyncio.ensure_future(gate.enter())
        third = asyncio.ensure_future(gate.enter())
        await asyncio.sleep(0)
        second.cancel()
        await third
        order.append("third")
        assert gate.waiting == 0
        return order

    assert asyncio.run(scenario()) == ["first", "third"]


def test_per_turn_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        TurnGate(0)
