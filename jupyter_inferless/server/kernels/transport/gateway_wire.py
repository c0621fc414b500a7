"""The wire of a gateway kernel's websocket: the request that opens it, the connection,
quick ACKs, and what its messages need read or written (``gateway.py`` uses them)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any
from urllib.parse import quote

from jupyter_server.gateway.gateway_client import GatewayClient
from jupyter_server.utils import url_path_join
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"
MAX_MESSAGE_SIZE = 256 * 1024 * 1024  # a frame carries at most a request's byte credit


def channels_request(kernel_id: str, client: GatewayClient | None = None) -> HTTPRequest:
    """The websocket request to a gateway kernel's channels, with the gateway's auth."""
    gateway = client or GatewayClient.instance()
    url = url_path_join(
        gateway.ws_url or "", gateway.kernels_endpoint, quote(kernel_id, safe=""), "channels"
    )
    return HTTPRequest(url, **gateway.load_connection_args())


async def connect(
    request: HTTPRequest,
) -> tuple[WebSocketClientConnection, socket.socket | None]:
    """The open websocket speaking SUBPROTOCOL, and its TCP socket (with TCP_NODELAY:
    Nagle's algorithm costs ~40 ms per small message round trip); ConnectionError when
    the gateway speaks another subprotocol."""
    ws = await websocket_connect(
        request, subprotocols=[SUBPROTOCOL], max_message_size=MAX_MESSAGE_SIZE
    )
    if ws.selected_subprotocol != SUBPROTOCOL:
        ws.close()
        raise ConnectionError(f"the gateway does not speak {SUBPROTOCOL}")
    stream = ws.protocol.stream if ws.protocol is not None else None
    sock = stream.socket if stream is not None else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ws, sock


def quick_ack(sock: socket.socket | None) -> None:
    """Acknowledge the gateway's next segments at once (Linux): the gateway keeps Nagle's
    algorithm on, so without this its second small message of a burst waits ~40 ms for
    our delayed ACK. The flag does not stick, hence after every message."""
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def written(future: asyncio.Future[None]) -> None:
    """A write's outcome, retrieved: a closed socket is heard by the reader."""
    if not future.cancelled():
        future.exception()


def unpack(part: bytes) -> dict[str, Any]:
    """A packed message part as a dict ({} when it holds something else)."""
    value = json.loads(part)
    return value if isinstance(value, dict) else {}
