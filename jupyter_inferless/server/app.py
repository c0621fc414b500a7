"""The jupyter_server extension: configuration, routes, start and stop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop
from traitlets import Float, Int, Unicode

from .._version import __version__
from ..headless import HeadlessRun
from ..protocol import DEFAULT_CREDIT_BYTES, DEFAULT_CREDIT_EVENTS
from .broker import Broker
from .catalog import Catalog
from .handlers import handlers
from .replay import EVENT_OVERHEAD
from .service import Service, ServiceConfig


class InferlessExtension(ExtensionApp):
    """Serves notebook models over Inferless/Triton-compatible HTTP and SSE."""

    name = "jupyter_inferless"
    version = __version__
    description = "Serve Inferless streaming models from notebook kernels"
    # `jupyter inferless serve` launches this app to serve one target: no other extensions.
    load_other_extensions = False
    _headless: HeadlessRun | None = None
    _headless_task: asyncio.Future[None] | None = None

    heartbeat_interval = Float(
        15.0, config=True, help="Seconds between ':' heartbeat comments on an idle stream."
    )
    retry_ms = Int(2000, config=True, help="The retry: hint (milliseconds) sent to SSE clients.")
    disconnect_grace = Float(
        30.0,
        config=True,
        help="Seconds a stream with no client is kept before its request is cancelled.",
    )
    max_body_bytes = Int(
        10 * 1024 * 1024, config=True, help="Largest request body accepted, in bytes."
    )
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
    replay_events = Int(
        4096, config=True, help="Delivered events kept per stream so a client can resume."
    )
    replay_bytes = Int(
        4 * 1024 * 1024,
        config=True,
        help="Bytes of delivered events kept per stream so a client can resume.",
    )
    replay_budget_bytes = Int(
        256 * 1024 * 1024,
        min=0,
        config=True,
        help=(
            "Bytes of delivered events kept for resuming, across all streams, live and "
            f"finished (each event counts its data plus {EVENT_OVERHEAD} bytes). Over it, the "
            "oldest delivered events are evicted: finished streams' first, in the order the "
            "streams ended; then live streams', the stream that has held them longest first. "
            "Events no client has been sent are never evicted. Resuming before an evicted "
            "event gets 410."
        ),
    )
    keep_finished = Float(
        300.0,
        min=0.0,
        config=True,
        help=(
            "Seconds a finished stream is kept after it ended, so a client can resume it or "
            "learn that it ended (204); after that, resuming it gets 404."
        ),
    )
    prune_interval = Float(
        5.0,
        min=0.01,
        config=True,
        help="Seconds between looks for finished streams older than keep_finished.",
    )

    def initialize_settings(self) -> None:
        """Create the catalog, broker and service shared by the handlers."""
        serverapp = self.serverapp
        assert serverapp is not None
        self.broker = Broker(
            replay_events=self.replay_events,
            replay_bytes=self.replay_bytes,
            replay_budget_bytes=self.replay_budget_bytes,
            keep_finished=self.keep_finished,
            prune_interval=self.prune_interval,
        )
        self.catalog = Catalog(
            serverapp.kernel_manager,
            self.broker,
            serverapp.connection_url,
            bridge_options={
                "credit": (self.credit_events, self.credit_bytes),
                "server_token": serverapp.identity_provider.token or "",
            },
        )
        config = ServiceConfig(
            heartbeat_interval=self.heartbeat_interval,
            retry_ms=self.retry_ms,
            disconnect_grace=self.disconnect_grace,
            max_body_bytes=self.max_body_bytes,
        )
        self.service = Service(self.catalog, self.broker, config, serverapp.session_manager)
        self.settings.update({"inferless_service": self.service})
        # jupyter_server calls _start_jupyter_server_extension only when it runs its own
        # loop; embedded servers (tests, other apps) start the catalog from here.
        IOLoop.current().add_callback(self._begin)

    serve_path = Unicode(
        "",
        config=True,
        help="A notebook or model directory to run in a new kernel once the server starts, "
        "printing its models' endpoints (what `jupyter inferless serve PATH` sets).",
    )
    serve_name = Unicode("", config=True, help="The model name for serve_path's model directory.")

    def initialize_handlers(self) -> None:
        """Declare the routes (jupyter_server prefixes base_url)."""
        self.handlers.extend(handlers())

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Begin watching kernels once the server's event loop runs; run serve_path."""
        self._begin()
        if self.serve_path:
            self._headless = HeadlessRun(
                serverapp, self.service, Path(self.serve_path), self.serve_name
            )
            self._headless.stop_on_signals()
            self._headless_task = asyncio.ensure_future(self._headless.start())

    def _begin(self) -> None:
        if not self.catalog.started:
            self.catalog.start(getattr(self.serverapp, "event_logger", None))
        self.broker.start()

    async def stop_extension(self) -> None:
        """End open streams with an error, close every kernel link, stop pruning."""
        if self._headless is not None:
            self._headless.close()
        self.broker.stop()
        await self.catalog.stop()
