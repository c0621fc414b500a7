"""The server's end of one kernel: link to its runtime, send requests, fill their streams.

The bridge reaches the kernel through a transport (``transport/``), takes frames with a
FrameReceiver (``frames.py``), and keeps the kernel's models and their counters in a
ModelRegistry (``registry.py``). When the kernel's runtime announces itself, the bridge
opens the serving comm (``linking.py``); the runtime answers with ``hello`` and its models.
Every message from the kernel is read by ``protocol.decode_from_kernel``; one it refuses
is logged once and dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast

from ... import protocol
from ...contract import SchemaError
from ...protocol import (
    ANNOUNCE_COMM_ID,
    DEFAULT_CREDIT_BYTES,
    DEFAULT_CREDIT_EVENTS,
    ErrorKind,
    FrameMessage,
    KernelRequest,
    ProtocolError,
    RunError,
    ServerMessage,
    run_error,
)
from ..decode.json_pack import RawJSON
from ..errors import KernelUnavailable
from ..observe.metrics import Metrics
from ..streams.stream import Stream
from .frames import FrameReceiver
from .linking import Linking
from .outgoing import UNPACKABLE, Outgoing, check_packable
from .registry import ModelRegistry
from .transport import OnLost, OnMessage, Transport
from .transport.zmq import ZmqTransport

log = logging.getLogger("ServerApp.jupyter_inferless")  # the server log's handlers

Connect = Callable[[str, Any, OnMessage, OnLost], Transport]
"""Makes the transport to a kernel: (kernel id, kernel manager, on_message, on_lost)."""


class RequestHandler(Protocol):
    """Answers a kernel's own requests (``kernel_requests.KernelRequests``)."""

    def handle(self, bridge: KernelBridge, request: KernelRequest) -> None:
        """A request of the bridge's kernel."""

    def dropped(self, bridge: KernelBridge) -> None:
        """The bridge's link went away."""


class KernelBridge:
    """Everything the server exchanges with one kernel's runtime."""

    def __init__(
        self,
        kernel_id: str,
        kernel_manager: Any,
        server_url: str,
        *,
        credit: tuple[int, int] = (DEFAULT_CREDIT_EVENTS, DEFAULT_CREDIT_BYTES),
        backlog: tuple[int, int] | None = None,
        ack_interval: float = 0.02,
        on_change: Callable[[], None] | None = None,
        requests: RequestHandler | None = None,
        connect: Connect = ZmqTransport,
        metrics: Metrics | None = None,
        order: Iterator[int] | None = None,
    ) -> None:
        """``metrics`` counts the events received (the server's); ``order`` numbers the
        models as they join (the catalog's, shared by every kernel)."""
        self.kernel_id = kernel_id
        self.server_url = server_url  # told to the kernel for the endpoints it prints
        self.requests = requests
        self._on_change = on_change or (lambda: None)
        self.ack_interval = ack_interval
        self.metrics = metrics if metrics is not None else Metrics()
        self.models = ModelRegistry(kernel_id, order)
        self.streams: dict[str, Stream] = {}
        self.frames = FrameReceiver(credit)
        self.backlog = backlog  # the bytes its kernel may hold past the credit, told at link
        self.runtime_id: str | None = None
        self.linking = Linking(self, self._on_change)
        self._ack_handle: asyncio.TimerHandle | None = None
        self.transport = connect(kernel_id, kernel_manager, self._on_message, self._on_lost)
        self.outgoing = Outgoing(self._send_now, self._not_sent, self.transport)

    # -- requests ---------------------------------------------------------------

    def start(self, stream: Stream, inputs: dict[str, Any] | RawJSON) -> None:
        """Ask the kernel to run a request whose events fill ``stream`` (RawJSON: Outgoing)."""
        if self.transport.comm_id is None:
            raise KernelUnavailable(f"kernel {self.kernel_id} is not linked")
        message = protocol.infer(stream.rid, stream.model, cast(Any, inputs), self.frames.credit)
        if not isinstance(inputs, RawJSON):
            check_packable(message)  # what the link cannot carry raises here, not in a batch
        self.streams[stream.rid] = stream
        self.frames.open(stream.rid)
        self.models.started(stream.model)
        self.send(message)

    def send(self, message: ServerMessage) -> None:
        """Send the kernel a message, with the others of this turn of the loop."""
        self.outgoing.put(message)

    def abandon(self, stream: Stream, err: Exception) -> None:
        """End a request ``start`` refused with ``err``: it was neither sent nor counted."""
        stream.finish(not_sent(err))

    def cancel(self, rid: str) -> None:
        """Ask the kernel to cancel a request."""
        if self.transport.comm_id is not None and rid in self.streams:
            self.send(protocol.cancel(rid))

    def lost(self, reason: str, kind: ErrorKind = ErrorKind.KERNEL_GONE) -> None:
        """The kernel restarted, died or shut down: end its streams, forget its models."""
        error = run_error(kind, reason)
        for stream in list(self.streams.values()):
            stream.finish(error)
        self.streams.clear()
        self.outgoing.clear()
        self.frames.reset()
        refused = self.linking.clear()
        if self.models.clear() or refused:
            self._on_change()
        self.transport.forget()
        self.runtime_id = None
        if self.requests is not None:  # after forget: nothing more is sent to the kernel
            self.requests.dropped(self)

    def _on_lost(self, reason: str) -> None:
        """The transport heard the kernel go (a remote kernel's restart or death)."""
        if self.transport.comm_id is not None or self.streams:
            log.warning("kernel %s: %s", self.kernel_id, reason)
            self.lost(reason)

    async def close(self) -> None:
        """Close the comm (cancelling its requests in the kernel) and the transport."""
        self.transport.close_comm()
        self.lost("the server is shutting down", ErrorKind.SERVER_SHUTDOWN)
        await self.transport.close()

    # -- from the kernel --------------------------------------------------------

    def _on_message(self, comm_id: str | None, data: dict[str, Any], buffers: list[Any]) -> None:
        linked = comm_id is not None and comm_id == self.transport.comm_id
        if comm_id != ANNOUNCE_COMM_ID and not linked:
            return
        try:
            message = protocol.decode_from_kernel(data)
            if message["op"] == "announce":
                self.linking.announced(message)
            elif not linked:
                return
            elif message["op"] == "frame":
                self._on_frame(message, buffers)
            elif message["op"] == "hello" or message["op"] == "models":
                self.models.update(message["models"])  # SchemaError: one it cannot read
                self.runtime_id = message["runtime"]
                self._on_change()
            elif self.requests is not None:
                self.requests.handle(self, message)
        except (ProtocolError, SchemaError) as err:
            self.linking.refuse(err)

    def _on_frame(self, frame: FrameMessage, buffers: list[Any]) -> None:
        received = self.frames.receive(frame, buffers)
        if received.resend_now:
            log.info(
                "kernel %s: frame %d lost; asking for a resend", self.kernel_id, self.frames.seq + 1
            )
            self._send_ack(resend=True)
        for run in received.runs:
            stream = self.streams.get(run.rid)
            if stream is None:
                continue
            if run.lines:
                stream.append(run.lines)
                self.models.delivered(stream.model, len(run.lines))
                self.metrics.received(stream.model, len(run.lines))
            if run.ended:
                self._end(stream, run.error)
        if received.ack_soon:
            self._schedule_ack()

    def _end(self, stream: Stream, error: RunError | None) -> None:
        stream.finish(error)
        self.streams.pop(stream.rid, None)
        self.frames.close(stream.rid)
        # A cancel (DELETE, Stop, a client gone past its grace) is not the model failing.
        failed = error is not None and error["kind"] is not ErrorKind.CANCELLED
        self.models.ended(stream.model, failed=failed)

    # -- acknowledgements and credit --------------------------------------------

    def consumed(self, stream: Stream) -> None:
        """A reader of ``stream`` advanced: the kernel gets credit once enough was read."""
        if self.frames.wants_grant(stream.rid, stream.consumed, stream.consumed_bytes):
            self._schedule_ack()

    def _schedule_ack(self) -> None:
        if self._ack_handle is None:
            loop = asyncio.get_running_loop()
            self._ack_handle = loop.call_later(self.ack_interval, self._send_ack)

    def _send_ack(self, resend: bool = False) -> None:
        self._ack_handle = None
        if self.transport.comm_id is None:
            return
        consumed = {rid: (s.consumed, s.consumed_bytes) for rid, s in self.streams.items()}
        self.send(self.frames.ack(consumed, resend))

    def _send_now(self, message: protocol.CommMessage) -> None:
        if self.transport.comm_id is None:
            raise KernelUnavailable(f"kernel {self.kernel_id} is no longer linked")
        self.transport.send(message)

    def _not_sent(self, messages: list[ServerMessage], err: Exception) -> None:
        """End the requests whose start could not be sent: the link went, or (only those)
        their inputs cannot be packed."""
        error = not_sent(err)
        for message in messages:
            if message["op"] == "infer":
                stream = self.streams.get(message["rid"])
                if stream is not None:
                    self._end(stream, error)


def not_sent(err: Exception) -> RunError:
    """Why a request that could not be sent to the kernel ended, whether ``start`` or the
    turn's send found out: inputs the link cannot carry (UNPACKABLE: ``input_error``), or
    a link that went (``kernel_gone``)."""
    kind = ErrorKind.INPUT_ERROR if isinstance(err, UNPACKABLE) else ErrorKind.KERNEL_GONE
    return run_error(kind, f"the request could not be sent to the kernel: {err}")
