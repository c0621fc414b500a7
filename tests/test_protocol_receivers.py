"""The receivers take every refused message of the protocol table calmly: the server's
bridge and the kernel's link each log it once, naming the field or both versions, and
drop it; nothing raises outside the decoder. A kernel's link opened by a server of another
version is refused, and the server's ``refused`` gives its verdicts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_inferless import protocol
from jupyter_inferless.kernel.link import Link
from jupyter_inferless.protocol import OpenData
from jupyter_inferless.protocol.constants import mismatch
from jupyter_inferless.server.kernels.bridge import KernelBridge
from tests.test_protocol import BROKEN, DESCRIPTION, FROM_THE_KERNEL, FROM_THE_SERVER, V, wire

SERVER_LOG = "ServerApp.jupyter_inferless"
KERNEL_LOG = "jupyter_inferless.kernel"


def refusals(side: str) -> Iterator[Any]:
    """Every message of ``side`` the decoder refuses: a field missing or mistyped, an
    unknown op, another version."""
    messages = FROM_THE_KERNEL if side == "kernel" else FROM_THE_SERVER
    for param in BROKEN:
        if param.values[0] == side:
            yield pytest.param(param.values[2], param.values[1], id=param.id)
    for message in messages:
        yield pytest.param({**message, "op": "gone"}, "op", id=f"{message['op']}-unknown op")
        other = {**message, "protocol": V + 1}
        yield pytest.param(other, "protocol", id=f"{message['op']}-another version")


class Transport:
    """The serving comm as the bridge sees it: open, and what was sent on it."""

    text_frames = False

    def __init__(self, kernel_id: str, km: Any, on_message: Any, on_lost: Any) -> None:
        self.on_message = on_message
        self.comm_id: str | None = "link"
        self.sent: list[Any] = []
        self.opened: list[OpenData] = []

    async def open_comm(self, data: OpenData) -> bool:
        self.opened.append(data)
        self.comm_id = "link"
        return True

    def send(self, message: Any) -> None:
        self.sent.append(message)

    def forget(self) -> None:
        self.comm_id = None


def a_bridge() -> tuple[KernelBridge, Transport]:
    bridge = KernelBridge("k1", None, "http://h/", connect=Transport)
    transport = bridge.transport
    assert isinstance(transport, Transport)
    return bridge, transport


@pytest.mark.parametrize(("bad", "field"), list(refusals("kernel")))
def test_the_bridge_logs_a_refused_message_once_and_drops_it(
    bad: Any, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        bridge, transport = a_bridge()
        for comm_id in ("link", "link", protocol.ANNOUNCE_COMM_ID):
            transport.on_message(comm_id, wire(bad), [])  # raises nothing
        await asyncio.sleep(0)  # a link the announce of another version opens, to refuse it
        assert len(bridge.models) == 0 and bridge.runtime_id is None

    with caplog.at_level(logging.WARNING, logger=SERVER_LOG):
        asyncio.run(scenario())
    (logged,) = [r.getMessage() for r in caplog.records if r.name == SERVER_LOG]
    expected = mismatch(V + 1, V) if field == "protocol" and bad.get("protocol") == V + 1 else None
    assert expected in logged if expected else f"field {field!r}" in logged


def test_a_model_schema_the_server_cannot_read_is_logged_and_dropped(caplog):
    bad = {**DESCRIPTION, "schema": {"inputs": [], "streaming": True, "declared": 1}}
    hello = protocol.hello("rt", [bad])  # type: ignore[list-item]
    unreadable = {"name": "n", "datatype": "INT99", "shape": [1], "required": True}
    schema = {"inputs": [unreadable], "streaming": True, "declared": True}
    later = protocol.models_changed("rt", [{**DESCRIPTION, "schema": schema}])  # type: ignore[list-item]
    bridge, transport = a_bridge()
    with caplog.at_level(logging.WARNING, logger=SERVER_LOG):
        transport.on_message("link", wire(hello), [])
        transport.on_message("link", wire(later), [])
    logged = [r.getMessage() for r in caplog.records if r.name == SERVER_LOG]
    assert "field 'models[0].schema.declared' must be true or false" in logged[0]
    assert "datatype 'INT99' is not one of" in logged[1]
    assert len(bridge.models) == 0


def test_an_announce_of_another_version_refuses_the_kernel_and_tells_it(caplog):
    async def scenario() -> tuple[KernelBridge, Transport]:
        bridge, transport = a_bridge()
        transport.comm_id = None
        old = {**protocol.announce("rt", {"m": 2}), "protocol": V - 1}
        transport.on_message(protocol.ANNOUNCE_COMM_ID, old, [])
        transport.on_message(protocol.ANNOUNCE_COMM_ID, old, [])  # announced again: refused once
        await asyncio.sleep(0)
        transport.on_message("link", {**old, "models": {"m": 3, "n": 1}}, [])  # served more
        return bridge, transport

    with caplog.at_level(logging.WARNING, logger=SERVER_LOG):
        bridge, transport = asyncio.run(scenario())
    reason = mismatch(V - 1, V)
    assert [r.getMessage() for r in caplog.records] == [f"kernel k1: {reason}"]
    assert len(transport.opened) == 1 and transport.opened[0]["protocol"] == V
    assert transport.sent == [
        protocol.refused(reason, {"m": 2}),
        protocol.refused(reason, {"m": 3, "n": 1}),
    ]
    assert (bridge.linking.reason, bridge.linking.refused_models) == (reason, {"m": 3, "n": 1})
    bridge.lost("the kernel died")
    assert bridge.linking.refused_models == {}


class Comm:
    """The two hooks Link sets on its comm."""

    comm_id = "c1"

    def on_msg(self, callback: Any) -> None:
        self.deliver = callback

    def on_close(self, callback: Any) -> None:
        self.close = callback


def a_link(open_data: Any, verdicts: list[Link] | None = None) -> tuple[Link, Comm]:
    comm = Comm()
    link = Link(
        kernel=None,
        comm=comm,
        open_msg={"content": {"data": open_data}},
        start=lambda request, channel: None,
        on_close=lambda link: None,
        on_verdicts=(verdicts if verdicts is not None else []).append,
    )
    return link, comm


@pytest.mark.parametrize(("bad", "field"), list(refusals("server")))
def test_the_link_logs_a_refused_message_once_and_drops_it(
    bad: Any, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    link, comm = a_link(protocol.open_data("http://h/"))
    with caplog.at_level(logging.WARNING, logger=KERNEL_LOG):
        for _ in range(2):
            comm.deliver({"content": {"data": wire(bad)}})  # raises nothing
    logged = [r.getMessage() for r in caplog.records if r.name == KERNEL_LOG]
    other_version = bad.get("protocol") == V + 1
    if bad.get("op") == "refused" and other_version:  # read all the same
        assert (logged, link.refusal, set(link.verdicts)) == ([], bad["reason"], set(bad["models"]))
        return
    (one,) = logged
    assert mismatch(V, V + 1) in one if other_version else f"field {field!r}" in one
    assert link.verdicts == {} and link.refusal is None
    comm.close({})


def test_a_link_of_another_version_is_refused_and_hears_why():
    verdicts: list[Link] = []
    link, comm = a_link({**protocol.open_data("http://h/"), "protocol": V + 1}, verdicts)
    assert link.refusal == mismatch(V, V + 1) and link.server_url is None
    refused = {**protocol.refused(mismatch(V, V + 1), {"m": 4}), "protocol": V + 1}
    comm.deliver({"content": {"data": wire(refused)}})
    assert link.verdicts == {"m": protocol.verdict(4, 0, mismatch(V, V + 1))}
    assert verdicts == [link]
    comm.close({})


def test_a_batch_starts_and_cancels_its_requests_in_order_on_a_link_of_this_version():
    started: list[str] = []
    link, comm = a_link(protocol.open_data("http://h/"))
    link._start = lambda request, channel: started.append(request["rid"])
    batch = protocol.batch([protocol.infer("a", "m", {}, (5, 100)), protocol.cancel("a")])
    comm.deliver({"content": {"data": wire(batch)}})
    assert started == ["a"] and link.refusal is None
    comm.close({})
