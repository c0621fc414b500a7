"""A websocket to one kernel of a Kernel Gateway: the kernel's channels, relayed.

The server's gateway mode (``--gateway-url``) runs kernels on another machine; only the
kernel protocol crosses, over ``{gateway}/api/kernels/ID/channels``. We open our own
websocket there (the gateway's auth, headers and TLS settings from jupyter_server's
``GatewayClient``), with TCP_NODELAY, and speak the ``v1.kernel.websocket.jupyter.org``
subprotocol: a channel name and the message's packed parts, which the gateway passes to
and from ZMQ without decoding (it signs what we send). Every IOPub message crosses the
socket; we unpack only headers, and the content of comm messages and status.

The serving comm is opened on a subshell exactly as over ZMQ. A ``restarting`` or
``dead`` status, or the socket closing, means the kernel is gone: ``on_lost`` is called.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Callable
from typing import Any

from jupyter_client.session import Session
from jupyter_server.services.kernels.connection.base import (
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)
from tornado.httpclient import HTTPRequest
from tornado.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
    websocket_connect,
)

from ....protocol import LINK_COMM_PREFIX, TARGET_NAME, CommMessage, OpenData
from . import OnLost, OnMessage, prepared
from .gateway_wire import channels_request, quick_ack, unpack, written

SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"
CONTROL_TIMEOUT = 5.0  # seconds to wait for a control reply
DRAIN_MESSAGES = 64  # messages taken in one turn of the server's loop, at most
MAX_MESSAGE_SIZE = 256 * 1024 * 1024  # a frame carries at most a request's byte credit
GONE_STATES = ("restarting", "dead")
log = logging.getLogger("ServerApp.jupyter_inferless")  # the server log's handlers


class GatewayTransport:
    """One gateway kernel's channels over a websocket of our own."""

    def __init__(
        self,
        kernel_id: str,
        kernel_manager: Any,
        on_message: OnMessage,
        on_lost: OnLost | None = None,
        *,
        request: HTTPRequest | None = None,
    ) -> None:
        self.kernel_id = kernel_id
        self.session = Session(username="jupyter_inferless", check_pid=False)
        self.comm_id: str | None = None
        # jupyter_server's relay of the notebook's own websocket to a gateway forwards
        # every message as text: a binary buffer would break the notebook's connection.
        self.text_frames = True
        self.subshell_id: str | None = None
        self._on_message = on_message
        self._on_lost: Callable[[str], None] = on_lost or (lambda reason: None)
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._control_lock = asyncio.Lock()
        self._ws: WebSocketClientConnection | None = None
        self._sock: socket.socket | None = None
        self._closing = False
        self._request = request or channels_request(kernel_id)
        self._reader = asyncio.ensure_future(self._read())

    async def open_comm(self, data: OpenData) -> bool:
        """Open the serving comm, on a subshell when the kernel has them."""
        try:
            info = await self._control_request("kernel_info_request", {})
            if "kernel subshells" in info.get("supported_features", []):
                reply = await self._control_request("create_subshell_request", {})
                self.subshell_id = reply.get("subshell_id")
            else:
                log.warning(
                    "kernel %s has no subshells (ipykernel < 7); models are served from the "
                    "main shell and wait while a cell runs",
                    self.kernel_id,
                )
            self.comm_id = LINK_COMM_PREFIX + uuid.uuid4().hex
            self._send_shell(
                "comm_open", {"comm_id": self.comm_id, "target_name": TARGET_NAME, "data": data}
            )
        except (asyncio.TimeoutError, ConnectionError) as err:
            log.warning("could not link to gateway kernel %s: %s", self.kernel_id, err)
            self.comm_id = None
            return False
        return True

    def send(self, data: CommMessage) -> None:
        """Send a message on the serving comm."""
        self._send_shell("comm_msg", {"comm_id": self.comm_id, "data": data})

    def prepare(self, data: CommMessage) -> bytes:
        """A message on the serving comm as one websocket message (by a decode thread)."""
        parts = prepared.comm_msg_parts(self.session, self.comm_id, self.subshell_id, data)
        return bytes(prepared.ws_v1("shell", parts))  # tornado writes bytes only

    def send_prepared(self, message: bytes) -> None:
        """Send what ``prepare`` made."""
        self._write(message, "comm_msg")

    def close_comm(self) -> None:
        """Close the serving comm; the kernel cancels the requests it carried."""
        if self.comm_id is not None:
            self._send_shell("comm_close", {"comm_id": self.comm_id, "data": {}})
        self.forget()

    def forget(self) -> None:
        """Forget the serving comm and its subshell."""
        self.comm_id = self.subshell_id = None

    async def close(self) -> None:
        """Close the websocket and stop reading."""
        self._closing = True
        if self._ws is not None:
            self._ws.close()
        self._reader.cancel()
        for waiter in self._replies.values():
            waiter.cancel()

    # -- the websocket ----------------------------------------------------------

    async def _connect(self) -> WebSocketClientConnection:
        ws = await websocket_connect(
            self._request, subprotocols=[SUBPROTOCOL], max_message_size=MAX_MESSAGE_SIZE
        )
        if ws.selected_subprotocol != SUBPROTOCOL:
            ws.close()
            raise ConnectionError(f"the gateway does not speak {SUBPROTOCOL}")
        stream = ws.protocol.stream if ws.protocol is not None else None
        self._sock = stream.socket if stream is not None else None
        if self._sock is not None:
            # Nagle's algorithm costs ~40 ms per small message round trip.
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return ws

    async def _read(self) -> None:
        """Read the kernel's messages; at each wake-up take every one already received (up
        to DRAIN_MESSAGES) before the server's loop runs on, as the ZMQ transport does."""
        reason = "the gateway closed the kernel's connection"
        try:
            self._ws = ws = await self._connect()
            ready = asyncio.ensure_future(ws.read_message())  # always the next unread one
            while (message := await ready) is not None:
                self._take(message)
                ready = asyncio.ensure_future(ws.read_message())
                for _ in range(DRAIN_MESSAGES - 1):
                    if not ready.done() or (message := ready.result()) is None:
                        break
                    self._take(message)
                    ready = asyncio.ensure_future(ws.read_message())
                await asyncio.sleep(0)  # a ready read does not yield; let the server breathe
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the gateway refused or is unreachable
            log.warning("no connection to gateway kernel %s: %s", self.kernel_id, err)
            reason = f"the gateway connection failed: {err}"
        for waiter in self._replies.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(reason))
        if not self._closing:
            self._on_lost(reason)

    def _take(self, message: str | bytes) -> None:
        quick_ack(self._sock)
        if isinstance(message, bytes):
            try:
                self._dispatch(message)
            except Exception:
                log.exception("bad message from gateway kernel %s", self.kernel_id)

    def _dispatch(self, message: bytes) -> None:
        channel, parts = deserialize_msg_from_ws_v1(message)
        header = unpack(parts[0])
        msg_type = header.get("msg_type")
        if channel == "iopub":
            if msg_type == "comm_msg":
                content = unpack(parts[3])
                comm_id = content.get("comm_id")
                if isinstance(comm_id, str) and comm_id.startswith(TARGET_NAME):
                    self._on_message(comm_id, content.get("data") or {}, parts[4:])
            elif msg_type == "status":
                state = unpack(parts[3]).get("execution_state")
                if state in GONE_STATES:
                    self._on_lost(f"the kernel is {state}")
        elif channel == "control":
            waiter = self._replies.pop(unpack(parts[1]).get("msg_id", ""), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(unpack(parts[3]))

    async def _ready(self) -> WebSocketClientConnection:
        """The open websocket, once connected; ConnectionError if it failed or closed."""
        while self._ws is None:
            if self._reader.done():
                raise ConnectionError("no connection to the gateway")
            await asyncio.sleep(0.01)
        if self._ws.protocol is None:
            raise ConnectionError("the gateway connection is closed")
        return self._ws

    async def _control_request(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
        async with self._control_lock:
            ws = await asyncio.wait_for(self._ready(), CONTROL_TIMEOUT)
            request = self.session.msg(msg_type, content)
            waiter = asyncio.get_running_loop().create_future()
            self._replies[request["header"]["msg_id"]] = waiter
            try:
                await ws.write_message(self._encode("control", request), binary=True)
                return await asyncio.wait_for(waiter, CONTROL_TIMEOUT)
            finally:
                self._replies.pop(request["header"]["msg_id"], None)

    def _send_shell(self, msg_type: str, content: dict[str, Any]) -> None:
        msg = self.session.msg(msg_type, content)
        if self.subshell_id is not None:
            msg["header"]["subshell_id"] = self.subshell_id
        self._write(self._encode("shell", msg), msg_type)

    def _write(self, message: bytes, msg_type: str) -> None:
        ws = self._ws
        try:
            if ws is None:
                raise WebSocketClosedError("not connected yet")
            ws.write_message(message, binary=True).add_done_callback(written)
        except WebSocketClosedError:
            log.debug("gateway kernel %s: connection closed; %s dropped", self.kernel_id, msg_type)

    def _encode(self, channel: str, msg: dict[str, Any]) -> bytes:
        return bytes(serialize_msg_to_ws_v1(msg, channel, self.session.pack))
