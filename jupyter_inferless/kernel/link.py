"""The kernel's end of one server's comm: requests in, frames out.

Messages are published straight onto IOPub with the comm's topic instead of
``comm.send``: a send from a worker thread would otherwise move the comm's
replies to the main shell (ipykernel routes a comm's incoming messages to the
subshell of its last send), where they would wait behind the user's cells.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, cast

from ..protocol import (
    DEFAULT_BACKLOG_BYTES,
    DEFAULT_REQUEST_BACKLOG_BYTES,
    AckMessage,
    BatchMessage,
    InferMessage,
    OpenData,
    ReplicasMessage,
    Verdict,
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
        on_answer: Callable[[dict[str, Any]], None] = lambda data: None,
    ) -> None:
        self.comm_id: str = comm.comm_id
        data = cast(OpenData, open_msg.get("content", {}).get("data") or {})
        self.server_url: str | None = data.get("server_url") or None  # for printed endpoints
        self.publish = iopub_publisher(kernel, self.comm_id, open_msg)
        request_bytes, total_bytes = data.get("backlog") or (
            DEFAULT_REQUEST_BACKLOG_BYTES,
            DEFAULT_BACKLOG_BYTES,
        )
        self.outbox = Outbox(
            self.publish,
            text_frames=bool(data.get("text_frames")),
            request_backlog_bytes=int(request_bytes),  # the server's bounds (c.Catalog)
            backlog_bytes=int(total_bytes),
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
        data = msg.get("content", {}).get("data") or {}
        if data.get("op") == "batch":
            for message in cast(BatchMessage, data)["messages"]:
                self.handle(cast(dict[str, Any], message))
        else:
            self.handle(data)

    def handle(self, data: dict[str, Any]) -> None:
        """Handle one server message."""
        op = data.get("op")
        if op == "ack":
            ack = cast(AckMessage, data)
            self.outbox.ack(int(ack["seq"]), ack["credit"], bool(ack["resend"]))
        elif op == "infer":
            request = cast(InferMessage, data)
            events, size = request["credit"]
            self._start(request, self.outbox.open(str(request["rid"]), (int(events), int(size))))
        elif op == "cancel":
            self.outbox.cancel(str(data.get("rid")))
        elif op == "replicas":
            self.verdicts = dict(cast(ReplicasMessage, data)["models"])
            self._on_verdicts(self)
        elif op in ("watched", "listed"):  # answers to this kernel's own views
            self._on_answer(data)
        else:
            log.warning("unknown message from the server: %r", op)

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
