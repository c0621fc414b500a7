"""The kernel's end of one server's comm: requests in, frames out.

Every message from the server is read by ``protocol.decode_from_server``; one it refuses
is logged once and dropped. A server of another protocol version opens the comm only to
say so: the link is then ``refusal`` (naming both versions), the server's ``refused``
message gives the verdict on each model announced to it, and nothing else travels.

Messages are published straight onto IOPub with the comm's topic instead of
``comm.send``: a send from a worker thread would otherwise move the comm's
replies to the main shell (ipykernel routes a comm's incoming messages to the
subshell of its last send), where they would wait behind the user's cells.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..protocol import (
    Complaints,
    InferMessage,
    ListedMessage,
    ProtocolError,
    RefusedMessage,
    ServerMessage,
    Verdict,
    VersionMismatch,
    WatchedMessage,
    comm_data,
    decode_from_server,
    decode_open,
    open_data,
    verdict,
)
from .channel import RequestChannel
from .outbox import Outbox

log = logging.getLogger("jupyter_inferless.kernel")

StartRequest = Callable[[InferMessage, RequestChannel], None]
"""Runs a request the server asked for; its events and end go to the channel."""
Publish = Callable[..., None]
"""Publishes comm data, with optional buffers, on IOPub."""


def iopub_publisher(kernel: Any, comm_id: str, parent: dict[str, Any] | None) -> Publish:
    """A function publishing comm_msg data on IOPub under ``comm-<comm_id>``."""
    topic = f"comm-{comm_id}".encode()

    def publish(data: Mapping[str, Any], buffers: list[bytes] | None = None) -> None:
        kernel.session.send(
            kernel.iopub_socket,
            "comm_msg",
            {"comm_id": comm_id, "data": data},
            parent=parent,
            ident=topic,
            buffers=buffers,
        )

    return publish


class Link:
    """One server attached to this kernel through a comm on a subshell."""

    def __init__(
        self,
        kernel: Any,
        comm: Any,
        open_msg: dict[str, Any],
        start: StartRequest,
        on_close: Callable[[Link], None],
        on_verdicts: Callable[[Link], None] = lambda link: None,
        on_answer: Callable[[WatchedMessage | ListedMessage], None] = lambda message: None,
    ) -> None:
        self.comm_id: str = comm.comm_id
        self.complaints = Complaints()
        self.refusal: str | None = None  # why this server cannot serve from this kernel
        try:
            data = decode_open(comm_data(open_msg))
        except ProtocolError as err:  # another version: it opened the comm to say so
            self.refusal = str(err)
            data = open_data("")
        self.server_url: str | None = data["server_url"] or None  # for printed endpoints
        self.publish = iopub_publisher(kernel, self.comm_id, open_msg)
        request_bytes, total_bytes = data["backlog"]  # the server's bounds (c.Catalog)
        self.outbox = Outbox(
            self.publish,
            text_frames=data["text_frames"],
            request_backlog_bytes=request_bytes,
            backlog_bytes=total_bytes,
        )
        self.verdicts: dict[str, Verdict] = {}  # the server's, on each served model
        self._start = start
        self._on_close = on_close
        self._on_verdicts = on_verdicts
        self._on_answer = on_answer
        self._comm = comm
        comm.on_msg(self.on_msg)
        comm.on_close(self.on_close)

    def on_msg(self, msg: dict[str, Any]) -> None:
        """Handle a server message (or a batch of them, in order); runs on the link's
        subshell, so keep it short."""
        try:
            message = decode_from_server(comm_data(msg))
        except ProtocolError as err:
            refused = err.refused if isinstance(err, VersionMismatch) else None
            if refused is not None:
                self._refused(refused)
            elif self.complaints.first(err):
                log.warning("a message from the server was dropped: %s", err)
            return
        if message["op"] == "batch":
            for each in message["messages"]:
                self.handle(each)
        else:
            self.handle(message)

    def handle(self, message: ServerMessage) -> None:
        """Handle one server message (decoded)."""
        if message["op"] == "ack":
            self.outbox.ack(message["seq"], message["credit"], message["resend"])
        elif message["op"] == "infer":
            events, size = message["credit"]
            self._start(message, self.outbox.open(message["rid"], (events, size)))
        elif message["op"] == "cancel":
            self.outbox.cancel(message["rid"])
        elif message["op"] == "replicas":
            self.verdicts = dict(message["models"])
            self._on_verdicts(self)
        elif message["op"] == "refused":
            self._refused(message)
        else:  # watched, listed: answers to this kernel's own views
            self._on_answer(message)

    def _refused(self, message: RefusedMessage) -> None:
        """The server refuses this kernel, and so each model announced to it."""
        reason = self.refusal = message["reason"]
        models = message["models"]
        self.verdicts = {
            name: verdict(generation, 0, reason) for name, generation in models.items()
        }
        self._on_verdicts(self)

    def on_close(self, msg: dict[str, Any]) -> None:
        """The server went away: cancel what it asked for."""
        self.outbox.close()
        self._on_close(self)

    def close(self, timeout: float) -> None:
        """Close the link from this side (the runtime is closing): send what is queued,
        stop the outbox and its thread (``timeout`` s for each), close the comm."""
        try:
            self.outbox.flush(timeout)
        except Exception:  # IOPub is closed at kernel exit
            log.debug("could not send the last frames", exc_info=True)
        self.outbox.close()
        self.outbox.join(timeout)
        try:
            self._comm.close()
        except Exception:
            log.debug("could not close the comm", exc_info=True)
        self._on_close(self)
