"""A websocket to one kernel of a Kernel Gateway: the kernel's channels, relayed.

The server's gateway mode (``--gateway-url``) runs kernels on another machine; only the
kernel protocol crosses, over ``{gateway}/api/kernels/ID/channels``. We open our own
websocket there (the gateway's auth, headers and TLS settings from jupyter_server's
``GatewayClient``), with TCP_NODELAY, and speak the ``v1.kernel.websocket.jupyter.org``
subprotocol: a channel name and the message's packed parts, which the gateway passes to
and from ZMQ without decoding (it signs what we send). Every IOPub message crosses the
socket; we unpack only headers, and the content of comm messages and status.

The serving comm is the base's (``base.py``), as over ZMQ. A ``restarting`` or ``dead``
status, or the socket closing, means the kernel is gone: ``on_lost`` is called.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from jupyter_client.session import Session
from jupyter_server.services.kernels.connection.base import (
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError

from ....protocol import TARGET_NAME
from . import prepared
from .base import CONTROL_TIMEOUT, BaseTransport
from .gateway_wire import channels_request, connect, quick_ack, unpack, written

GONE_STATES = ("restarting", "dead")
log = logging.getLogger("ServerApp.jupyter_inferless")  # the server log's handlers

Message = str | bytes
"""One websocket message (the kernel's are binary)."""


class GatewayTransport(BaseTransport[Message, bytes]):
    """One gateway kernel's channels over a websocket of our own."""

    WHAT = "gateway kernel"
    # jupyter_server's relay of the notebook's own websocket to a gateway forwards
    # every message as text: a binary buffer would break the notebook's connection.
    text_frames = True

    def _open(self, kernel_manager: Any) -> Session:
        """Begin connecting to the kernel's channels; the reader waits for it (``_read``)."""
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._connecting = asyncio.ensure_future(connect(channels_request(self.kernel_id)))
        self._ws: WebSocketClientConnection | None = None
        self._sock: socket.socket | None = None
        self._next: asyncio.Future[Message | None] | None = None  # the next unread message
        self._closing = False
        return Session(username="jupyter_inferless", check_pid=False)

    def send_prepared(self, ready: bytes) -> None:
        """Send what ``prepare`` made."""
        self._write(ready, "comm_msg")

    def _close_channels(self) -> None:
        self._closing = True
        self._connecting.cancel()
        if self._ws is not None:
            self._ws.close()
        for waiter in self._replies.values():
            waiter.cancel()

    async def _read(self) -> None:
        """Connect, then read the kernel's messages until the websocket closes."""
        reason = "the gateway closed the kernel's connection"
        try:
            self._ws, self._sock = await self._connecting
            self._next = asyncio.ensure_future(self._ws.read_message())
            await self._drain()
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

    def _frame(self, parts: list[prepared.Part]) -> bytes:
        """The message as one websocket message."""
        return bytes(prepared.ws_v1("shell", parts))  # tornado writes bytes only

    async def _receive(self) -> Message | None:
        assert self._next is not None, "read only once connected"
        await self._next
        return self._took()

    def _receive_nowait(self) -> Message | None:
        ready = self._next
        if ready is None or not ready.done() or ready.result() is None:
            return None
        return self._took()

    def _took(self) -> Message | None:
        """The message just read, with the next read begun; None once the socket closed."""
        assert self._ws is not None and self._next is not None
        message = self._next.result()
        if message is not None:
            self._next = asyncio.ensure_future(self._ws.read_message())
        return message

    def _dispatch(self, message: Message) -> None:
        quick_ack(self._sock)
        if not isinstance(message, bytes):
            return
        channel, parts = deserialize_msg_from_ws_v1(message)
        msg_type = unpack(parts[0]).get("msg_type")
        if channel == "iopub":
            if msg_type == "comm_msg":
                content = unpack(parts[3])
                comm_id = content.get("comm_id")
                if isinstance(comm_id, str) and comm_id.startswith(TARGET_NAME):
                    self._deliver(content, parts[4:])
            elif msg_type == "status":
                state = unpack(parts[3]).get("execution_state")
                if state in GONE_STATES:
                    self._on_lost(f"the kernel is {state}")
        elif channel == "control":
            waiter = self._replies.pop(unpack(parts[1]).get("msg_id", ""), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(unpack(parts[3]))

    async def _connected(self) -> WebSocketClientConnection:
        """The open websocket, once connected; ConnectionError if it failed or closed."""
        try:
            ws, _ = await asyncio.shield(self._connecting)
        except asyncio.CancelledError:
            if not self._connecting.cancelled():
                raise  # our caller was cancelled
            raise ConnectionError("the transport is closed") from None
        except Exception as err:
            raise ConnectionError(f"no connection to the gateway: {err}") from err
        if ws.protocol is None:
            raise ConnectionError("the gateway connection is closed")
        return ws

    async def _exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        ws = await asyncio.wait_for(self._connected(), CONTROL_TIMEOUT)
        waiter = asyncio.get_running_loop().create_future()
        self._replies[request["header"]["msg_id"]] = waiter
        try:
            await ws.write_message(self._encode("control", request), binary=True)
            return await asyncio.wait_for(waiter, CONTROL_TIMEOUT)
        finally:
            self._replies.pop(request["header"]["msg_id"], None)

    def _write_shell(self, msg: dict[str, Any]) -> None:
        self._write(self._encode("shell", msg), msg["header"]["msg_type"])

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
