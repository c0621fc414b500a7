"""Outgoing: what the server sends a kernel in one turn of its loop leaves as one message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.session import json_packer

from jupyter_inferless import protocol
from jupyter_inferless.protocol import CommMessage, ServerMessage
from jupyter_inferless.server.kernels.outgoing import Outgoing, check_packable
from tests.support.stepped_loop import SteppedLoop, stepped_loop


class Link:
    """What a transport was asked to send; ``broken`` makes sends raise as a gone link does."""

    def __init__(self) -> None:
        self.sent: list[CommMessage] = []
        self.failed: list[list[ServerMessage]] = []
        self.errors: list[Exception] = []
        self.broken = False

    def send(self, message: CommMessage) -> None:
        if self.broken:
            raise ConnectionError("the link is gone")
        json_packer({"comm_id": "c", "data": message})  # as the session packs it
        self.sent.append(message)

    def not_sent(self, messages: list[ServerMessage], error: Exception) -> None:
        self.failed.append(messages)
        self.errors.append(error)


def outgoing_on(link: Link, stepped: SteppedLoop | None = None) -> Outgoing:
    if stepped is None:
        return Outgoing(link.send, link.not_sent)
    return Outgoing(link.send, link.not_sent, loop=lambda: stepped)


@pytest.fixture
def stepped() -> Iterator[SteppedLoop]:
    with stepped_loop() as loop:
        yield loop


def test_messages_of_one_turn_go_as_one_batch_in_order_and_a_lone_one_as_itself(
    stepped: SteppedLoop,
):
    link = Link()
    outgoing = outgoing_on(link, stepped)
    for rid in ("a", "b", "c"):
        outgoing.put(protocol.cancel(rid))
    assert link.sent == [], "nothing leaves before the turn ends"
    assert stepped.pending == 1, "one flush for the turn"
    stepped.turn()
    outgoing.put(protocol.ack(7, {}))
    stepped.turn()
    assert link.sent == [
        protocol.batch([protocol.cancel("a"), protocol.cancel("b"), protocol.cancel("c")]),
        protocol.ack(7, {}),
    ]
    assert not stepped.pending


def test_a_burst_of_requests_started_by_many_callbacks_of_one_turn_is_one_message(
    stepped: SteppedLoop,
):
    link = Link()
    outgoing = outgoing_on(link, stepped)
    for n in range(64):  # like 64 request handlers that became ready together
        stepped.call_soon(outgoing.put, protocol.infer(f"r{n}", "m", {"n": n}, (16, 1024)))
    assert stepped.turn() == 64 and link.sent == [], "they leave at the end of their turn"
    assert stepped.turn() == 1
    assert len(link.sent) == 1
    batch: Any = link.sent[0]
    assert batch["op"] == "batch"
    assert [m["rid"] for m in batch["messages"]] == [f"r{n}" for n in range(64)]


def test_a_failed_send_hands_back_its_messages_and_clear_drops_the_queue(
    stepped: SteppedLoop,
):
    link = Link()
    outgoing = outgoing_on(link, stepped)
    link.broken = True
    outgoing.put(protocol.infer("r1", "m", {}, (1, 1)))
    outgoing.put(protocol.cancel("r0"))
    stepped.turn()
    link.broken = False
    outgoing.put(protocol.cancel("r2"))
    outgoing.clear()
    assert not stepped.pending, "clear cancels the end of turn's flush"
    stepped.turn()
    outgoing.flush()
    assert link.failed == [[protocol.infer("r1", "m", {}, (1, 1)), protocol.cancel("r0")]]
    assert link.sent == [], "a cleared queue sends nothing, now or at the end of the turn"


def test_put_outside_a_running_loop_says_so():
    with pytest.raises(RuntimeError, match="no running event loop"):
        outgoing_on(Link()).put(protocol.cancel("r"))


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


UNPACKABLE_INPUTS = [
    pytest.param({"x": nested(5000)}, RecursionError, id="nested-too-deep"),
    pytest.param({"x": "\ud800"}, UnicodeEncodeError, id="lone-surrogate"),
]


@pytest.mark.parametrize(("inputs", "raised"), UNPACKABLE_INPUTS)
def test_a_message_that_cannot_be_packed_is_handed_back_alone_and_the_others_sent(
    inputs: dict[str, Any], raised: type[Exception]
):
    good = [protocol.infer(f"r{n}", "m", {"n": n}, (16, 1024)) for n in range(4)]
    bad = protocol.infer("bad", "m", inputs, (16, 1024))

    link = Link()
    with stepped_loop() as stepped:
        outgoing = outgoing_on(link, stepped)
        for message in [good[0], good[1], bad, good[2], good[3]]:
            outgoing.put(message)
        stepped.turn()
    assert link.failed == [[bad]]
    assert isinstance(link.errors[0], raised)
    assert link.sent == [protocol.batch(good)], "the others leave together, in order"
    with pytest.raises(raised):
        check_packable(bad)  # what the bridge checks before the request is answered
    for message in good:
        check_packable(message)
