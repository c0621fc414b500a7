"""The gateway transport's connection, against a real TCP server standing in for a gateway
that never completes the websocket handshake, or hangs up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from jupyter_server.gateway.gateway_client import GatewayClient

from jupyter_inferless.protocol import open_data
from jupyter_inferless.server.kernels.transport.gateway import GatewayTransport
from tests.support.waiting import wait_async_event

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
def gateway_client() -> Iterator[Callable[[int], None]]:
    """Points jupyter_server's GatewayClient at a port; reset after."""

    def point_at(port: int) -> None:
        GatewayClient.clear_instance()
        GatewayClient.instance(url=f"http://127.0.0.1:{port}")

    yield point_at
    GatewayClient.clear_instance()


async def _transport(
    handler: Handler, point_at: Callable[[int], None], lost: list[str]
) -> tuple[GatewayTransport, asyncio.Server]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    point_at(server.sockets[0].getsockname()[1])
    transport = GatewayTransport("k", None, lambda *message: None, lost.append)
    return transport, server


def test_a_transport_closed_while_it_connects_does_not_link(gateway_client: Any) -> None:
    async def scenario() -> tuple[bool, list[str]]:
        accepted, release = asyncio.Event(), asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.set()
            await release.wait()  # never answers the handshake
            writer.close()

        lost: list[str] = []
        transport, server = await _transport(silent, gateway_client, lost)
        opening = asyncio.ensure_future(transport.open_comm(open_data("http://server")))
        await wait_async_event(accepted, "the transport's connection")
        await transport.close()
        linked = await opening
        release.set()
        server.close()
        await server.wait_closed()
        return linked, lost

    linked, lost = asyncio.run(scenario())
    assert linked is False, "closed while connecting: no serving comm"
    assert lost == [], "a transport closed on purpose reports no lost kernel"


def test_a_gateway_that_hangs_up_is_a_lost_kernel(gateway_client: Any) -> None:
    async def scenario() -> tuple[bool, list[str]]:
        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        lost: list[str] = []
        transport, server = await _transport(hang_up, gateway_client, lost)
        linked = await transport.open_comm(open_data("http://server"))
        await transport.close()
        server.close()
        await server.wait_closed()
        return linked, lost

    linked, lost = asyncio.run(scenario())
    assert linked is False
    assert len(lost) == 1 and lost[0].startswith("the gateway connection failed"), lost
