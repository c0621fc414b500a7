"""When the server opens a kernel's serving comm; and a kernel of another version, refused.

A kernel's runtime announces itself while no server is linked. An announce of this
server's protocol version links it, unless a link is being made or the runtime's hello is
on its way. An announce of another version refuses the kernel: the server opens the comm
all the same, only to tell it so (``refused``, with the models it announced), and lists
those models as refused with the reason, naming both versions; the kernel announces its
models on that comm when they change, and is told again. Nothing else is sent to it.
Every way a message is refused is logged once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ... import protocol
from ...protocol import AnnounceMessage, Complaints, VersionMismatch

if TYPE_CHECKING:
    from .bridge import KernelBridge

HELLO_TIMEOUT = 5.0  # seconds to wait for the kernel's hello before linking again
log = logging.getLogger("ServerApp.jupyter_inferless")  # the server log's handlers


class Linking:
    """One bridge's links to its kernel's runtimes, and the refusal of one it cannot read."""

    def __init__(self, bridge: KernelBridge, on_change: Callable[[], None]) -> None:
        """``on_change``: what the server lists of the kernel changed (its refusal)."""
        self.bridge = bridge
        self._on_change = on_change
        self.refused_runtime: str | None = None  # a runtime of another protocol version
        self.reason = ""  # why, naming both versions
        self.refused_models: dict[str, int] = {}  # what it announced: generation by name
        self.complaints = Complaints()
        self._attaching: asyncio.Future[None] | None = None
        self._opened_at = 0.0

    def announced(self, message: AnnounceMessage) -> None:
        """A runtime of this version announced itself: link it, unless linked already."""
        bridge = self.bridge
        if self.refused_runtime is not None:
            bridge.lost("the kernel's runtime was replaced by one of this server's version")
        linked = bridge.transport.comm_id is not None
        if self._attaching is not None or (linked and message["runtime"] == bridge.runtime_id):
            return
        awaiting_hello = linked and bridge.runtime_id is None
        if awaiting_hello and time.monotonic() - self._opened_at < HELLO_TIMEOUT:
            return  # announced before our comm_open arrived; its hello is on the way
        if linked:
            bridge.lost("the kernel's runtime was replaced")
        self._attach_soon()

    def refuse(self, err: Exception) -> None:
        """A message the server does not take: logged once, dropped. An announce of another
        version refuses its runtime, which is told so (over a new comm, or the open one)."""
        if not isinstance(err, protocol.ProtocolError) or self.complaints.first(err):
            log.warning("kernel %s: %s", self.bridge.kernel_id, err)
        announced = err.announced if isinstance(err, VersionMismatch) else None
        if announced is None:
            return
        bridge = self.bridge
        if announced["runtime"] != self.refused_runtime:
            if bridge.transport.comm_id is not None:
                bridge.lost("the kernel's runtime was replaced")
            self._refused(announced, str(err))
            self._attach_soon()
        elif announced["models"] != self.refused_models:
            self._refused(announced, str(err))
            if bridge.transport.comm_id is not None:  # else the comm, once open, tells it
                bridge.transport.send(protocol.refused(self.reason, self.refused_models))
        else:
            return
        self._on_change()

    def clear(self) -> bool:
        """The kernel's runtime is gone: nothing of it stays refused. Whether it was."""
        was = self.refused_runtime is not None
        self.refused_runtime, self.reason, self.refused_models = None, "", {}
        return was

    def _refused(self, announced: AnnounceMessage, reason: str) -> None:
        self.refused_runtime = announced["runtime"]
        self.reason = reason
        self.refused_models = dict(announced["models"])

    def _attach_soon(self) -> None:
        if self._attaching is None:
            self._attaching = asyncio.ensure_future(self._attach())

    async def _attach(self) -> None:
        bridge = self.bridge
        try:
            bridge.frames.reset()
            transport = bridge.transport
            data = protocol.open_data(bridge.server_url, transport.text_frames, bridge.backlog)
            if await transport.open_comm(data):
                self._opened_at = time.monotonic()
                if self.refused_runtime is not None:
                    transport.send(protocol.refused(self.reason, self.refused_models))
        finally:
            self._attaching = None


def refused_by_name(bridges: Iterable[KernelBridge]) -> dict[str, list[tuple[str, str]]]:
    """The kernels of another protocol version that announced each name: (id, reason)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for bridge in bridges:
        for name in bridge.linking.refused_models:
            found.setdefault(name, []).append((bridge.kernel_id, bridge.linking.reason))
    return found
