"""Outgoing: what the server sends a kernel in one turn of its loop leaves as one message."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_inferless import protocol
from jupyter_inferless.protocol import CommMessage, ServerMessage
from jupyter_inferless.server.outgoing import Outgoing


class Link:
    """What a transport was asked to send; ``broken`` makes sends raise as a gone link does."""

    def __init__(self) -> None:
        self.sent: list[CommMessage] = []
        self.failed: list[list[ServerMessage]] = []
        self.broken = False

    def send(self, message: CommMessage) -> None:
        if self.broken:
            raise ConnectionError("the link is gone")
        self.sent.append(message)


def outgoing_on(link: Link) -> Outgoing:
    return Outgoing(link.send, link.failed.append)


def test_messages_of_one_turn_go_as_one_batch_in_order_and_a_lone_one_as_itself():
    async def scenario() -> Link:
        link = Link()
        outgoing = outgoing_on(link)
        for rid in ("a", "b", "c"):
            outgoing.put(protocol.cancel(rid))
        assert link.sent == [], "nothing leaves before the turn ends"
        await asyncio.sleep(0)
        outgoing.put(protocol.ack(7, {}))
        await asyncio.sleep(0)
        return link

    link = asyncio.run(scenario())
    assert link.sent == [
        protocol.batch([protocol.cancel("a"), protocol.cancel("b"), protocol.cancel("c")]),
        protocol.ack(7, {}),
    ]


def test_a_burst_of_requests_started_by_many_callbacks_of_one_turn_is_one_message():
    async def scenario() -> Link:
        link = Link()
        outgoing = outgoing_on(link)
        loop = asyncio.get_running_loop()
        for n in range(64):  # like 64 request handlers that became ready together
            loop.call_soon(outgoing.put, protocol.infer(f"r{n}", "m", {"n": n}, (16, 1024)))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return link

    link = asyncio.run(scenario())
    assert len(link.sent) == 1
    batch: Any = link.sent[0]
    assert batch["op"] == "batch"
    assert [m["rid"] for m in batch["messages"]] == [f"r{n}" for n in range(64)]


def test_a_failed_send_hands_back_its_messages_and_clear_drops_the_queue():
    async def scenario() -> Link:
        link = Link()
        outgoing = outgoing_on(link)
        link.broken = True
        outgoing.put(protocol.infer("r1", "m", {}, (1, 1)))
        outgoing.put(protocol.cancel("r0"))
        await asyncio.sleep(0)
        link.broken = False
        outgoing.put(protocol.cancel("r2"))
        outgoing.clear()
        await asyncio.sleep(0)
        outgoing.flush()
        return link

    link = asyncio.run(scenario())
    assert link.failed == [[protocol.infer("r1", "m", {}, (1, 1)), protocol.cancel("r0")]]
    assert link.sent == [], "a cleared queue sends nothing, now or at the end of the turn"


def test_put_outside_a_running_loop_says_so():
    with pytest.raises(RuntimeError, match="no running event loop"):
        outgoing_on(Link()).put(protocol.cancel("r"))
