"""Every kernel of the server, its bridge, and the models all of them serve."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import traitlets
from jupyter_server.gateway.managers import GatewayKernelManager
from traitlets import Instance, Int, Unicode
from traitlets.config import LoggingConfigurable

from ..protocol import DEFAULT_CREDIT_BYTES, DEFAULT_CREDIT_EVENTS, ErrorKind
from .bridge import Connect, KernelBridge
from .broker import Broker
from .errors import ModelAmbiguous, ModelNotFound
from .registry import ModelEntry
from .transport.gateway import GatewayTransport
from .transport.zmq import ZmqTransport
from .wakeup import Wakeup

log = logging.getLogger("ServerApp.jupyter_inferless")  # the server log's handlers
KERNEL_ACTIONS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"


def transport_for(kernel_manager: Any) -> Connect:
    """How to reach a kernel: a Kernel Gateway's over its websocket, a local one over ZMQ."""
    return GatewayTransport if isinstance(kernel_manager, GatewayKernelManager) else ZmqTransport


class Catalog(LoggingConfigurable):
    """Follows the server's kernel events and keeps one bridge per running kernel.

    jupyter_server announces every kernel it starts, restarts and shuts down on its
    event bus (``kernel_actions``); the catalog links a kernel when it starts and lets
    it go when it stops. Kernels that die are heard through the kernel manager's
    restart callbacks. Nothing polls.
    """

    START_RETRIES = 50  # looks, 20 ms apart, for a started kernel to be listed

    credit_events = Int(
        DEFAULT_CREDIT_EVENTS,
        config=True,
        help="Events a model may run ahead of its client before send_streamed_output blocks.",
    )
    credit_bytes = Int(
        DEFAULT_CREDIT_BYTES,
        config=True,
        help="Bytes a model may run ahead of its client before send_streamed_output blocks.",
    )
    kernel_manager = traitlets.Any(help="The server's kernel manager.")
    broker = Instance(Broker)
    server_url = Unicode(help="The server's URL, told to the kernels.")
    server_token = Unicode("", help="The server's token, so a kernel's own views can call it.")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.bridges: dict[str, KernelBridge] = {}
        self._watched: set[str] = set()
        self._background: set[asyncio.Future[None]] = set()
        self.version = 0
        self._change = Wakeup()
        self._started = False

    def changed(self) -> None:
        """The set of served models changed: wake whoever watches the catalog."""
        self.version += 1
        self._change.wake()

    async def wait_for_change(self, version: int, timeout: float) -> bool:
        """Wait until the catalog's version differs from ``version``; False on timeout."""
        if self.version != version:
            return True
        return await self._change.wait(timeout)

    @property
    def started(self) -> bool:
        """Whether the catalog follows the kernels yet."""
        return self._started

    def start(self, event_logger: Any = None) -> None:
        """Link the kernels running now, then follow the server's kernel events."""
        self._started = True
        if event_logger is not None:
            event_logger.add_listener(schema_id=KERNEL_ACTIONS, listener=self._on_kernel_event)
        self._sync()

    async def stop(self) -> None:
        """Close every bridge; open streams end with an error."""
        for kernel_id in list(self.bridges):
            await self._drop(kernel_id, "the server is shutting down", ErrorKind.SERVER_SHUTDOWN)

    def models(self) -> list[ModelEntry]:
        """Every model every linked kernel serves."""
        return [entry for bridge in self.bridges.values() for entry in bridge.models]

    def find(self, name: str) -> tuple[KernelBridge, ModelEntry]:
        """The bridge and entry serving ``name``; ModelNotFound or ModelAmbiguous otherwise."""
        found = [
            (bridge, bridge.models[name])
            for bridge in self.bridges.values()
            if name in bridge.models
        ]
        if not found:
            served = ", ".join(sorted(entry.name for entry in self.models())) or "none"
            raise ModelNotFound(f"no model named {name!r} is served (served: {served})")
        if len(found) > 1:
            kernels = ", ".join(bridge.kernel_id for bridge, _ in found)
            raise ModelAmbiguous(
                f"model {name!r} is served by several kernels ({kernels}); stop all but one"
            )
        return found[0]

    def _sync(self) -> None:
        running = set(self.kernel_manager.list_kernel_ids())
        for kernel_id in running - set(self.bridges):
            km = self.kernel_manager.get_kernel(kernel_id)
            if not hasattr(km, "connect_iopub") or not km.has_kernel:
                continue
            self.bridges[kernel_id] = KernelBridge(
                kernel_id,
                km,
                self.server_url,
                credit=(self.credit_events, self.credit_bytes),
                server_token=self.server_token,
                on_change=self.changed,
                connect=transport_for(km),
            )
            if kernel_id not in self._watched:
                self._watched.add(kernel_id)
                died = lambda k=kernel_id: self._lost(k, "the kernel died")  # noqa: E731
                km.add_restart_callback(died, "restart")
                km.add_restart_callback(died, "dead")
        for kernel_id in set(self.bridges) - running:
            task = asyncio.ensure_future(self._drop(kernel_id, "the kernel was shut down"))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _lost(self, kernel_id: str, reason: str) -> None:
        bridge = self.bridges.get(kernel_id)
        if bridge is not None:
            bridge.lost(reason)

    async def _on_kernel_event(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        kernel_id = data.get("kernel_id")
        action = data.get("action")
        if data.get("status") != "success" or not isinstance(kernel_id, str):
            return
        if kernel_id in self.bridges and action in ("restart", "shutdown"):
            reason = (
                "the kernel was restarted" if action == "restart" else "the kernel was shut down"
            )
            await self._drop(kernel_id, reason)
        if action in ("start", "restart"):
            await self._link_when_listed(kernel_id)

    async def _link_when_listed(self, kernel_id: str) -> None:
        """Link a kernel that just started, once the kernel manager lists it."""
        for _ in range(self.START_RETRIES):
            self._sync()
            if kernel_id in self.bridges:
                return
            await asyncio.sleep(0.02)
        log.warning("kernel %s started but was never listed; it is not linked", kernel_id)

    async def _drop(
        self, kernel_id: str, reason: str, kind: ErrorKind = ErrorKind.KERNEL_GONE
    ) -> None:
        bridge = self.bridges.pop(kernel_id, None)
        if bridge is None:
            return
        bridge.lost(reason, kind)
        await bridge.close()
