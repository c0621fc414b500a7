"""How the bridge reaches a kernel: what any transport offers, and the ZMQ one.

A transport delivers every comm message the kernel publishes for us, opens the serving
comm (on a kernel subshell when the kernel has them) and sends comm messages on it.
``zmq.ZmqTransport`` reaches a local kernel of this server's kernel manager over its ZMQ
channels; ``gateway.GatewayTransport`` reaches a remote kernel of a Kernel Gateway over
its websocket. Both build on ``base.BaseTransport``, which does what they share (the
serving comm and its subshell, a prepared message's parts, draining what the kernel sends)
over the channels each provides. A transport that hears the kernel die calls ``on_lost``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ....protocol import CommMessage, OpenData

OnMessage = Callable[[str | None, dict[str, Any], list[Any]], None]
"""Called with (comm id, data, buffers) for each comm message the kernel publishes for us."""

OnLost = Callable[[str], None]
"""Called with a reason when the transport hears that the kernel is gone."""


class Transport(Protocol):
    """One kernel's channels, as the bridge uses them."""

    comm_id: str | None
    """The serving comm, once opened."""

    text_frames: bool
    """Whether the kernel must send frames without a binary buffer (their events as text)."""

    async def open_comm(self, data: OpenData) -> bool:
        """Open the serving comm; False (and logged) when the kernel did not answer."""

    def send(self, data: CommMessage) -> None:
        """Send a message on the serving comm."""

    def prepare(self, data: CommMessage) -> Any:
        """A message on the serving comm made ready to send, by any thread: for a large
        request, whose inputs a decode thread packs (``prepared.py``)."""

    def send_prepared(self, prepared: Any) -> None:
        """Send what ``prepare`` made, after the messages sent before it."""

    def close_comm(self) -> None:
        """Close the serving comm (the kernel cancels its requests), and forget it."""

    def forget(self) -> None:
        """Forget the serving comm without closing it (the kernel is gone)."""

    async def close(self) -> None:
        """Stop reading and close the channels."""
