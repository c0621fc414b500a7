"""The kernel's end of one server's comm: requests in, frames out.

Messages are published straight onto IOPub with the comm's topic instead of
``comm.send``: a send from a worker thread would otherwise move the comm's
replies to the main shell (ipykernel routes a comm's incoming messages to the
subshell of its last send), where they would wait behind the user's cells.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..protocol import DEFAULT_CREDIT_BYTES, DEFAULT_CREDIT_EVENTS
from .outbox import Outbox

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("jupyter_inferless.kernel")


def iopub_publisher(
    kernel: Any, comm_id: str, parent: dict[str, Any] | None
) -> Callable[..., None]:
    """A function publishing comm_msg data on IOPub under ``comm-<comm_id>``."""
    topic = f"comm-{comm_id}".encode()

    def publish(data: dict[str, Any], buffers: list[bytes] | None = None) -> None:
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

    def __init__(self, runtime: Runtime, comm: Any, open_msg: dict[str, Any]) -> None:
        self.runtime = runtime
        self.comm_id: str = comm.comm_id
        data = open_msg.get("content", {}).get("data") or {}
        self.server_url: str | None = data.get("server_url")
        self.server_token: str = data.get("server_token") or ""
        self.publish = iopub_publisher(runtime.kernel, self.comm_id, open_msg)
        self.outbox = Outbox(self.publish)
        comm.on_msg(self.on_msg)
        comm.on_close(self.on_close)

    def send_models(self, op: str = "models") -> None:
        """Tell the server which models this kernel serves."""
        self.publish(
            {"op": op, "runtime": self.runtime.runtime_id, "models": self.runtime.describe_models()}
        )

    def on_msg(self, msg: dict[str, Any]) -> None:
        """Handle a server message; runs on the link's subshell, so keep it short."""
        data = msg.get("content", {}).get("data") or {}
        op = data.get("op")
        if op == "ack":
            self.outbox.ack(
                int(data.get("seq", 0)), data.get("credit") or {}, bool(data.get("resend"))
            )
        elif op == "infer":
            self._start(data)
        elif op == "cancel":
            channel = self.outbox.channels.get(data.get("rid", ""))
            if channel is not None:
                channel.cancel()
        elif op == "models":
            self.send_models()
        else:
            log.warning("unknown message from the server: %r", op)

    def on_close(self, msg: dict[str, Any]) -> None:
        """The server went away: cancel what it asked for."""
        self.outbox.close()
        self.runtime.links.pop(self.comm_id, None)
        if not self.runtime.links:
            self.runtime._linked.clear()

    def _start(self, data: dict[str, Any]) -> None:
        rid = str(data.get("rid"))
        credit = data.get("credit") or [DEFAULT_CREDIT_EVENTS, DEFAULT_CREDIT_BYTES]
        channel = self.outbox.open(rid, (int(credit[0]), int(credit[1])))
        model = self.runtime.models.get(str(data.get("model")))
        if model is None:
            channel.end(f"ModelNotFound: no model {data.get('model')!r} is served by this kernel")
            return
        inputs = data.get("inputs") or {}
        if not isinstance(inputs, dict):
            channel.end("InputError: inputs must be an object")
            return
        model.submit(rid, inputs, channel)
