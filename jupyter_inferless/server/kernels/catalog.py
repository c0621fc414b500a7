"""Every kernel of the server, its bridge, and the models all of them serve.

A name several kernels serve is one model with replicas (``replicas.py``); after every
change of the served models each kernel is told what the server made of its own
(``protocol.replicas``): how many replicas each name has, and why one is refused.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import traitlets
from jupyter_server.gateway.managers import GatewayKernelManager
from traitlets import Instance, Int, Unicode
from traitlets.config import LoggingConfigurable

from ... import protocol
from ...protocol import DEFAULT_CREDIT_BYTES, DEFAULT_CREDIT_EVENTS, ErrorKind, Verdict
from ..errors import ModelNotFound
from ..observe.metrics import Metrics
from ..streams.wakeup import Wakeup
from .bridge import Connect, KernelBridge, RequestHandler
from .linking import refused_by_name
from .registry import ModelEntry
from .replicas import Replicas, group
from .transport.gateway import GatewayTransport
from .transport.zmq import ZmqTransport

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
    restart callbacks. Nothing polls. What answers the kernels' own requests (above the
    catalog: they start runs) is given to ``start``, before any kernel is linked.
    """

    START_RETRIES = 50  # looks, 20 ms apart, for a started kernel to be listed

    credit_events = Int(
        DEFAULT_CREDIT_EVENTS,
        config=True,
        help="Events a request may send ahead of its client; the kernel holds the next ones "
        "(request_backlog_bytes).",
    )
    credit_bytes = Int(
        DEFAULT_CREDIT_BYTES,
        config=True,
        help="Bytes a request may send ahead of its client; the kernel holds the next ones "
        "(request_backlog_bytes).",
    )
    request_backlog_bytes = Int(
        protocol.DEFAULT_REQUEST_BACKLOG_BYTES,
        min=0,
        config=True,
        help="Bytes of a request's events its kernel holds past the credit (each event "
        "counts what its string takes in memory) while the client catches up. Beyond it "
        "the model pauses: a sync infer waits in send_streamed_output, an async one in "
        "`await stream_output_handler.asend(...)`; a plain send_streamed_output from an "
        "async infer cannot wait without stopping the model's other requests, so that "
        "request is cancelled instead. Told to each kernel when it links.",
    )
    kernel_backlog_bytes = Int(
        protocol.DEFAULT_BACKLOG_BYTES,
        min=0,
        config=True,
        help="Bytes all requests' events may take in one kernel past their credit (per "
        "server linked to it); beyond it, the request that would add more pauses as "
        "with request_backlog_bytes. Told to each kernel when it links.",
    )
    kernel_manager = traitlets.Any(help="The server's kernel manager.")
    server_url = Unicode(help="The server's URL, told to the kernels for what they print.")
    metrics = Instance(Metrics, args=(), help="The server's metrics: events received.")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.bridges: dict[str, KernelBridge] = {}
        self._watched: set[str] = set()
        self._background: set[asyncio.Future[None]] = set()
        self.version = 0
        self._change = Wakeup()
        self._order = itertools.count()  # one order over every kernel's models
        self._started = False
        self._told: dict[tuple[str, str | None], dict[str, Verdict]] = {}
        self._stopping = False
        self._requests: RequestHandler | None = None

    def changed(self) -> None:
        """The set of served models changed: wake whoever watches the catalog, and tell
        each kernel what the server now makes of its models."""
        self.version += 1
        self._change.wake()
        self._tell()

    async def wait_for_change(self, version: int, timeout: float) -> bool:
        """Wait until the catalog's version differs from ``version``; False on timeout."""
        if self.version != version:
            return True
        return await self._change.wait(timeout)

    @property
    def started(self) -> bool:
        """Whether the catalog follows the kernels yet."""
        return self._started

    def start(self, requests: RequestHandler, event_logger: Any = None) -> None:
        """Link the kernels running now, then follow the server's kernel events;
        ``requests`` answers what the kernels ask the server."""
        self._started = True
        self._requests = requests
        if event_logger is not None:
            event_logger.add_listener(schema_id=KERNEL_ACTIONS, listener=self._on_kernel_event)
        self._sync()

    async def stop(self) -> None:
        """Close every bridge; open streams end with an error."""
        self._stopping = True  # the kernels need no more verdicts
        for kernel_id in list(self.bridges):
            await self._drop(kernel_id, "the server is shutting down", ErrorKind.SERVER_SHUTDOWN)

    def served(self) -> dict[str, Replicas]:
        """Every served name and its replicas, in the order the names were first served."""
        pairs = ((bridge, entry) for bridge in self.bridges.values() for entry in bridge.models)
        return group(pairs, refused_by_name(self.bridges.values()))

    def unready(self) -> str | None:
        """Why the server is not ready (KServe v2: every model ready), or None when it is:
        models are served, and each has a replica whose kernel is linked."""
        served = self.served()
        if not served:
            return "no model is served"
        for name, model in served.items():
            if all(replica.bridge.transport.comm_id is None for replica in model.replicas):
                return f"model {name!r} has no linked kernel"
        return None

    def models(self) -> list[ModelEntry]:
        """Every replica of every served model (refused ones are not)."""
        return [r.entry for model in self.served().values() for r in model.replicas]

    def find(self, name: str) -> Replicas:
        """The model called ``name`` and its replicas; ModelNotFound otherwise."""
        found = group(
            (bridge, bridge.models[name])
            for bridge in self.bridges.values()
            if name in bridge.models
        )
        if name not in found:
            served = ", ".join(sorted(self.served())) or "none"
            unread = refused_by_name(self.bridges.values()).get(name, [])
            why = "".join(f"; kernel {kernel} is refused: {reason}" for kernel, reason in unread)
            raise ModelNotFound(f"no model named {name!r} is served (served: {served}){why}")
        return found[name]

    def _tell(self) -> None:
        """Send each linked kernel the verdicts on its models, when they changed."""
        if self._stopping:
            return
        served = self.served()
        told = {}
        for kernel_id, bridge in self.bridges.items():
            key = (kernel_id, bridge.transport.comm_id)
            if key[1] is None or not len(bridge.models):
                continue
            verdicts = {entry.name: served[entry.name].verdict(entry) for entry in bridge.models}
            told[key] = verdicts
            if self._told.get(key) != verdicts:
                try:
                    bridge.send(protocol.replicas(verdicts))
                except Exception:  # a kernel that is going: its end is heard elsewhere
                    log.debug("could not tell kernel %s its replicas", kernel_id, exc_info=True)
        self._told = told

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
                backlog=(self.request_backlog_bytes, self.kernel_backlog_bytes),
                on_change=self.changed,
                requests=self._requests,
                connect=transport_for(km),
                metrics=self.metrics,
                order=self._order,
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
