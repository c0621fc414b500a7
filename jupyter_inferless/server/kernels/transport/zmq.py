"""Our own ZMQ sockets to one kernel of this server: IOPub in, shell and control out.

The IOPub socket subscribes only to our comm topic, so the user's other output is never
parsed here. Everything else (the serving comm, its subshell, drains) is the base's
(``base.py``). A local kernel's death is heard by the kernel manager's restart
callbacks, not here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.session import Session

from ....protocol import TOPIC_PREFIX
from . import prepared
from .base import CONTROL_TIMEOUT, BaseTransport

Frames = list[Any]
"""One multipart message, as ``recv_multipart(copy=False)`` gives it."""


def _connect(kernel_manager: Any, channel: str, kind: int) -> zmq.asyncio.Socket:
    """A socket of our own to one of the kernel's channels.

    The kernel manager's connect_* helpers return ZMQStreams registered with the
    server's IOLoop; we read with asyncio instead, on private sockets.
    """
    info = kernel_manager.get_connection_info()
    port = info[f"{channel}_port"]
    if info["transport"] == "tcp":
        url = f"tcp://{info['ip']}:{port}"
    else:
        url = f"{info['transport']}://{info['ip']}-{port}"
    sock = zmq.asyncio.Context.instance().socket(kind)
    sock.linger = 100
    if kind == zmq.SUB:
        sock.setsockopt(zmq.SUBSCRIBE, TOPIC_PREFIX)
    sock.connect(url)
    return sock


class ZmqTransport(BaseTransport[Frames, list[prepared.Part]]):
    """One kernel's channels, reached through its connection info."""

    LINK_ERRORS = (zmq.ZMQError,)
    text_frames = False  # our own sockets carry buffers

    def _open(self, kernel_manager: Any) -> Session:
        """Our own sockets to the kernel's IOPub, shell and control, and its session's key."""
        self._iopub = _connect(kernel_manager, "iopub", zmq.SUB)
        self._iopub_sync: zmq.Socket[bytes] = zmq.Socket.shadow(self._iopub.underlying)
        self._shell = _connect(kernel_manager, "shell", zmq.DEALER)
        # Session.send makes a blocking twin of an asyncio socket on every send; keep one.
        self._shell_sender: zmq.Socket[bytes] = zmq.Socket.shadow(self._shell.underlying)
        self._control = _connect(kernel_manager, "control", zmq.DEALER)
        return Session(
            key=kernel_manager.session.key,
            signature_scheme=kernel_manager.session.signature_scheme,
            username="jupyter_inferless",
            check_pid=False,
        )

    def send_prepared(self, ready: list[prepared.Part]) -> None:
        """Send what ``prepare`` made (large frames are not copied)."""
        self._shell_sender.send_multipart(ready, copy=False)

    def _close_channels(self) -> None:
        for sock in (self._iopub, self._shell, self._control):
            sock.close(linger=100)

    def _frame(self, parts: list[prepared.Part]) -> list[prepared.Part]:
        """The signed frames of the message."""
        return prepared.zmq_frames(self.session, parts)

    def _receive(self) -> Awaitable[Frames]:
        return self._iopub.recv_multipart(copy=False)

    def _receive_nowait(self) -> Frames | None:
        try:
            return self._iopub_sync.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return None

    def _dispatch(self, message: Frames) -> None:
        _, frames = self.session.feed_identities(message, copy=False)
        msg = self.session.deserialize(frames, content=True, copy=False)
        if msg["header"]["msg_type"] == "comm_msg":
            self._deliver(msg["content"], msg.get("buffers") or [])

    async def _exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        self.session.send(self._control, request)
        while True:
            parts = await asyncio.wait_for(
                self._control.recv_multipart(copy=False), CONTROL_TIMEOUT
            )
            _, frames = self.session.feed_identities(parts, copy=False)
            reply = self.session.deserialize(frames, content=True, copy=False)
            if reply["parent_header"].get("msg_id") == request["header"]["msg_id"]:
                return dict(reply["content"])

    def _write_shell(self, msg: dict[str, Any]) -> None:
        self.session.send(self._shell_sender, msg)
