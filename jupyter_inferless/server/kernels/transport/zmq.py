"""Our own ZMQ sockets to one kernel of this server: IOPub in, shell and control out.

The IOPub socket subscribes only to our comm topic, so the user's other output is never
parsed here. The serving comm is opened on a subshell (``subshell_id`` in the
``comm_open`` header) when the kernel lists ``kernel subshells``; otherwise on the main
shell, where requests wait while a cell runs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.session import Session

from ....protocol import LINK_COMM_PREFIX, TARGET_NAME, TOPIC_PREFIX, CommMessage, OpenData
from . import OnLost, OnMessage, prepared

CONTROL_TIMEOUT = 5.0  # seconds to wait for a control reply
DRAIN_FRAMES = 64  # messages taken from IOPub in one turn of the server's loop, at most
log = logging.getLogger("ServerApp.jupyter_inferless")  # the server log's handlers


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


class ZmqTransport:
    """One kernel's channels, reached through its connection info."""

    def __init__(
        self,
        kernel_id: str,
        kernel_manager: Any,
        on_message: OnMessage,
        on_lost: OnLost | None = None,
    ) -> None:
        """``on_lost`` is unused: the kernel manager's restart callbacks hear a local death."""
        self.kernel_id = kernel_id
        self.session = Session(
            key=kernel_manager.session.key,
            signature_scheme=kernel_manager.session.signature_scheme,
            username="jupyter_inferless",
            check_pid=False,
        )
        self.comm_id: str | None = None
        self.text_frames = False  # our own sockets carry buffers
        self.subshell_id: str | None = None
        self._on_message = on_message
        self._iopub = _connect(kernel_manager, "iopub", zmq.SUB)
        self._iopub_sync: zmq.Socket[bytes] = zmq.Socket.shadow(self._iopub.underlying)
        self._shell = _connect(kernel_manager, "shell", zmq.DEALER)
        # Session.send makes a blocking twin of an asyncio socket on every send; keep one.
        self._shell_sender: zmq.Socket[bytes] = zmq.Socket.shadow(self._shell.underlying)
        self._control = _connect(kernel_manager, "control", zmq.DEALER)
        self._control_lock = asyncio.Lock()
        self._reader = asyncio.ensure_future(self._read_iopub())

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
        except (asyncio.TimeoutError, zmq.ZMQError) as err:
            log.warning("could not link to kernel %s: %s", self.kernel_id, err)
            self.comm_id = None
            return False
        return True

    def send(self, data: CommMessage) -> None:
        """Send a message on the serving comm."""
        self._send_shell("comm_msg", {"comm_id": self.comm_id, "data": data})

    def prepare(self, data: CommMessage) -> list[prepared.Part]:
        """The signed frames of a message on the serving comm (made by a decode thread)."""
        parts = prepared.comm_msg_parts(self.session, self.comm_id, self.subshell_id, data)
        return prepared.zmq_frames(self.session, parts)

    def send_prepared(self, frames: list[prepared.Part]) -> None:
        """Send what ``prepare`` made (large frames are not copied)."""
        self._shell_sender.send_multipart(frames, copy=False)

    def close_comm(self) -> None:
        """Close the serving comm; the kernel cancels the requests it carried."""
        if self.comm_id is not None:
            self._send_shell("comm_close", {"comm_id": self.comm_id, "data": {}})
        self.forget()

    def forget(self) -> None:
        """Forget the serving comm and its subshell."""
        self.comm_id = self.subshell_id = None

    async def close(self) -> None:
        """Stop reading; close the sockets."""
        self._reader.cancel()
        for sock in (self._iopub, self._shell, self._control):
            sock.close(linger=100)

    async def _read_iopub(self) -> None:
        """Take every frame already queued at each wake-up (up to DRAIN_FRAMES), then let
        the server's loop run: when the server falls behind, each stream's writer then
        wakes once for several frames and writes their events in one chunk, instead of
        the queue growing by a frame per turn."""
        while True:
            self._dispatch_safely(await self._iopub.recv_multipart(copy=False))
            for _ in range(DRAIN_FRAMES - 1):
                try:
                    parts = self._iopub_sync.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                self._dispatch_safely(parts)
            await asyncio.sleep(0)  # a ready recv does not yield; let the server breathe

    def _dispatch_safely(self, parts: list[Any]) -> None:
        try:
            self._dispatch(parts)
        except Exception:
            log.exception("bad message from kernel %s", self.kernel_id)

    def _dispatch(self, parts: list[Any]) -> None:
        _, frames = self.session.feed_identities(parts, copy=False)
        msg = self.session.deserialize(frames, content=True, copy=False)
        if msg["header"]["msg_type"] != "comm_msg":
            return
        content = msg["content"]
        self._on_message(
            content.get("comm_id"), content.get("data") or {}, msg.get("buffers") or []
        )

    async def _control_request(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
        async with self._control_lock:
            request = self.session.msg(msg_type, content)
            self.session.send(self._control, request)
            while True:
                parts = await asyncio.wait_for(
                    self._control.recv_multipart(copy=False), CONTROL_TIMEOUT
                )
                _, frames = self.session.feed_identities(parts, copy=False)
                reply = self.session.deserialize(frames, content=True, copy=False)
                if reply["parent_header"].get("msg_id") == request["header"]["msg_id"]:
                    return dict(reply["content"])

    def _send_shell(self, msg_type: str, content: dict[str, Any]) -> None:
        msg = self.session.msg(msg_type, content)
        if self.subshell_id is not None:
            msg["header"]["subshell_id"] = self.subshell_id
        self.session.send(self._shell_sender, msg)
