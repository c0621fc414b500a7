"""The server's end of one kernel: a comm on a kernel subshell, frames in, requests out.

The bridge keeps its own ZMQ sockets to the kernel. Its IOPub socket subscribes
only to our comm topic, so the user's other output is never parsed here. When the
kernel's runtime announces itself, the bridge asks for a subshell (falling back to
the main shell on kernels without subshells) and opens the serving comm there.
Frames are sequence-checked: a gap makes the bridge ask for a resend, and
acknowledgements carry each stream's credit.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.session import Session

from ..protocol import (
    ANNOUNCE_COMM_ID,
    DEFAULT_CREDIT_BYTES,
    DEFAULT_CREDIT_EVENTS,
    LINK_COMM_PREFIX,
    PROTOCOL_VERSION,
    TARGET_NAME,
    TOPIC_PREFIX,
)
from .broker import Stream
from .model_entry import KernelGone, ModelEntry

HELLO_TIMEOUT = 5.0  # seconds to wait for the kernel's hello before linking again
log = logging.getLogger("ServerApp.jupyter_inferless")  # the server log's handlers


def _connect(kernel_manager: Any, channel: str, kind: int) -> zmq.asyncio.Socket:
    """A socket of our own to one of the kernel's channels.

    The kernel manager's connect_* helpers return ZMQStreams registered with the
    server's IOLoop; the bridge reads with asyncio instead, on private sockets.
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


class KernelBridge:
    """Everything the server exchanges with one kernel's runtime."""

    def __init__(
        self,
        kernel_id: str,
        kernel_manager: Any,
        server_url: str,
        *,
        credit: tuple[int, int] = (DEFAULT_CREDIT_EVENTS, DEFAULT_CREDIT_BYTES),
        ack_interval: float = 0.02,
        server_token: str = "",
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.kernel_id = kernel_id
        self.km = kernel_manager
        self.server_url = server_url
        self._server_token = server_token  # lets the kernel's own widgets call this server
        self._on_change = on_change or (lambda: None)
        self.credit = credit
        self.ack_interval = ack_interval
        self.session = Session(
            key=kernel_manager.session.key,
            signature_scheme=kernel_manager.session.signature_scheme,
            username="jupyter_inferless",
            check_pid=False,
        )
        self.models: dict[str, ModelEntry] = {}
        self.streams: dict[str, Stream] = {}
        self.runtime_id: str | None = None
        self.comm_id: str | None = None
        self.subshell_id: str | None = None
        self.linked = asyncio.Event()
        self._attaching = False
        self._opened_at = 0.0
        self._attach_task: asyncio.Future[None] | None = None
        self._seq = 0
        self._resend_asked = False
        self._ack_handle: asyncio.TimerHandle | None = None
        self._granted: dict[str, list[int]] = {}
        self._iopub = _connect(kernel_manager, "iopub", zmq.SUB)
        self._shell = _connect(kernel_manager, "shell", zmq.DEALER)
        self._control = _connect(kernel_manager, "control", zmq.DEALER)
        self._control_lock = asyncio.Lock()
        self._reader = asyncio.ensure_future(self._read_iopub())

    # -- requests ---------------------------------------------------------------

    def start(self, stream: Stream, inputs: dict[str, Any]) -> None:
        """Ask the kernel to run a request whose events fill ``stream``."""
        if self.comm_id is None:
            raise KernelGone(f"kernel {self.kernel_id} is not linked")
        self.streams[stream.rid] = stream
        self._granted[stream.rid] = list(self.credit)
        stream.on_consumed = self._on_consumed
        entry = self.models.get(stream.model)
        if entry is not None:
            entry.requests += 1
            entry.active += 1
        self._send_comm(
            {
                "op": "infer",
                "rid": stream.rid,
                "model": stream.model,
                "inputs": inputs,
                "credit": list(self.credit),
            }
        )

    def abandon(self, stream: Stream) -> None:
        """Forget a request that never reached the kernel."""
        self._end(stream, "the request could not be sent to the kernel")

    def cancel(self, rid: str) -> None:
        """Ask the kernel to cancel a request."""
        if self.comm_id is not None and rid in self.streams:
            self._send_comm({"op": "cancel", "rid": rid})

    def lost(self, reason: str, kind: str = "KernelGone") -> None:
        """The kernel restarted, died or shut down: end its streams, forget its models."""
        for stream in list(self.streams.values()):
            stream.finish(f"{kind}: {reason}")
        self.streams.clear()
        self._granted.clear()
        if self.models:
            self.models.clear()
            self._on_change()
        self.comm_id = self.subshell_id = self.runtime_id = None
        self._seq = 0
        self.linked.clear()

    async def close(self) -> None:
        """Close the comm (cancelling its requests in the kernel) and the sockets."""
        if self.comm_id is not None:
            self._send_shell("comm_close", {"comm_id": self.comm_id, "data": {}})
        self.lost("the server is shutting down", "ServerShutdown")
        self._reader.cancel()
        for sock in (self._iopub, self._shell, self._control):
            sock.close(linger=100)

    # -- IOPub ------------------------------------------------------------------

    async def _read_iopub(self) -> None:
        while True:
            parts = await self._iopub.recv_multipart(copy=False)
            try:
                self._dispatch(parts)
            except Exception:
                log.exception("bad message from kernel %s", self.kernel_id)
            await asyncio.sleep(0)  # a ready recv does not yield; let the server breathe

    def _dispatch(self, parts: list[Any]) -> None:
        _, frames = self.session.feed_identities(parts, copy=False)
        msg = self.session.deserialize(frames, content=True, copy=False)
        if msg["header"]["msg_type"] != "comm_msg":
            return
        content = msg["content"]
        data = content.get("data") or {}
        comm_id = content.get("comm_id")
        if comm_id == ANNOUNCE_COMM_ID:
            self._on_announce(data)
        elif comm_id == self.comm_id:
            self._on_link_message(data, msg.get("buffers") or [])

    def _on_announce(self, data: dict[str, Any]) -> None:
        if data.get("protocol") != PROTOCOL_VERSION:
            log.warning("kernel %s speaks protocol %r", self.kernel_id, data.get("protocol"))
            return
        if self._attaching or (self.comm_id is not None and data.get("runtime") == self.runtime_id):
            return
        awaiting_hello = self.comm_id is not None and self.runtime_id is None
        if awaiting_hello and time.monotonic() - self._opened_at < HELLO_TIMEOUT:
            return  # announced before our comm_open arrived; its hello is on the way
        if self.comm_id is not None:
            self.lost("the kernel's runtime was replaced")
        self._attaching = True
        self._attach_task = asyncio.ensure_future(self._attach())

    def _on_link_message(self, data: dict[str, Any], buffers: list[Any]) -> None:
        op = data.get("op")
        if op == "frame":
            self._on_frame(data, buffers)
        elif op in ("hello", "models"):
            self.runtime_id = data.get("runtime")
            self._set_models(data.get("models") or [])
            self.linked.set()

    def _set_models(self, described: list[dict[str, Any]]) -> None:
        models = {}
        for description in described:
            old = self.models.get(description["name"])
            entry = ModelEntry(self.kernel_id, description)
            if old is not None:
                entry.requests, entry.events, entry.errors = old.requests, old.events, old.errors
                entry.active = old.active
            models[entry.name] = entry
        self.models = models
        self._on_change()

    # -- frames -----------------------------------------------------------------

    def _on_frame(self, data: dict[str, Any], buffers: list[Any]) -> None:
        seq = int(data["seq"])
        if seq <= self._seq:
            return  # a resent frame we already have
        if seq != self._seq + 1:
            if not self._resend_asked:
                log.info(
                    "kernel %s: frame %d lost; asking for a resend", self.kernel_id, self._seq + 1
                )
                self._resend_asked = True
                self._send_ack(resend=True)
            return
        self._seq = seq
        self._resend_asked = False
        lines = bytes(buffers[0]).split(b"\n") if buffers else []
        offset = 0
        for rid, count, ended, error in data["runs"]:
            stream = self.streams.get(rid)
            chunk = lines[offset : offset + count]
            offset += count
            if stream is None:
                continue
            if chunk:
                stream.append(chunk)
                entry = self.models.get(stream.model)
                if entry is not None:
                    entry.events += len(chunk)
            if ended:
                self._end(stream, error)
        self._schedule_ack()

    def _end(self, stream: Stream, error: str | None) -> None:
        stream.finish(error)
        self.streams.pop(stream.rid, None)
        self._granted.pop(stream.rid, None)
        entry = self.models.get(stream.model)
        if entry is not None:
            entry.active = max(0, entry.active - 1)
            entry.errors += 1 if error else 0

    def _on_consumed(self, stream: Stream) -> None:
        granted = self._granted.get(stream.rid)
        if granted is None:
            return
        events, size = self.credit
        if stream.consumed + events - granted[0] >= events // 4 or (
            stream.consumed_bytes + size - granted[1] >= size // 4
        ):
            self._schedule_ack()

    def _schedule_ack(self) -> None:
        if self._ack_handle is None:
            loop = asyncio.get_running_loop()
            self._ack_handle = loop.call_later(self.ack_interval, self._send_ack)

    def _send_ack(self, resend: bool = False) -> None:
        self._ack_handle = None
        if self.comm_id is None:
            return
        credit: dict[str, list[int]] = {}
        events, size = self.credit
        for rid, granted in self._granted.items():
            stream = self.streams[rid]
            more_events = stream.consumed + events - granted[0]
            more_bytes = stream.consumed_bytes + size - granted[1]
            if more_events >= events // 4 or more_bytes >= size // 4:
                more_events, more_bytes = max(0, more_events), max(0, more_bytes)
                granted[0] += more_events
                granted[1] += more_bytes
                credit[rid] = [more_events, more_bytes]
        self._send_comm({"op": "ack", "seq": self._seq, "credit": credit, "resend": resend})

    # -- linking ----------------------------------------------------------------

    async def _attach(self) -> None:
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
            self._opened_at = time.monotonic()
            self._seq = 0
            self._send_shell(
                "comm_open",
                {
                    "comm_id": self.comm_id,
                    "target_name": TARGET_NAME,
                    "data": {
                        "protocol": PROTOCOL_VERSION,
                        "server_url": self.server_url,
                        "server_token": self._server_token,
                    },
                },
            )
        except (asyncio.TimeoutError, zmq.ZMQError) as err:
            log.warning("could not link to kernel %s: %s", self.kernel_id, err)
            self.comm_id = None
        finally:
            self._attaching = False

    async def _control_request(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
        async with self._control_lock:
            request = self.session.msg(msg_type, content)
            self.session.send(self._control, request)
            while True:
                parts = await asyncio.wait_for(self._control.recv_multipart(copy=False), 5.0)
                _, frames = self.session.feed_identities(parts, copy=False)
                reply = self.session.deserialize(frames, content=True, copy=False)
                if reply["parent_header"].get("msg_id") == request["header"]["msg_id"]:
                    return dict(reply["content"])

    def _send_comm(self, data: dict[str, Any]) -> None:
        self._send_shell("comm_msg", {"comm_id": self.comm_id, "data": data})

    def _send_shell(self, msg_type: str, content: dict[str, Any]) -> None:
        msg = self.session.msg(msg_type, content)
        if self.subshell_id is not None:
            msg["header"]["subshell_id"] = self.subshell_id
        self.session.send(self._shell, msg)
