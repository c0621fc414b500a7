"""The jupyter_server extension: configuration, routes, start and stop."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop
from traitlets import Unicode

from .._version import __version__
from ..headless import HeadlessRun
from .http.handlers import handlers
from .kernel_requests import KernelRequests
from .kernels.catalog import Catalog
from .observe.metrics import Metrics, MetricsCollector
from .service import Service
from .streams.broker import Broker

PANEL_NEEDS_LAB = (
    "jupyter_inferless serves without JupyterLab; for its Inferless panel in JupyterLab, "
    "pip install 'jupyter_inferless[lab]'"
)


class InferlessExtension(ExtensionApp):
    """Serves notebook models over Inferless/Triton-compatible HTTP and SSE."""

    name = "jupyter_inferless"
    version = __version__
    description = "Serve Inferless streaming models from notebook kernels"
    # `jupyter inferless serve` launches this app to serve one target: no other extensions.
    load_other_extensions = False
    _headless: HeadlessRun | None = None
    _headless_task: asyncio.Future[None] | None = None

    serve_path = Unicode(
        "",
        config=True,
        help="A notebook or model directory to run in a new kernel once the server starts, "
        "printing its models' endpoints (what `jupyter inferless serve PATH` sets).",
    )
    serve_name = Unicode("", config=True, help="The model name for serve_path's model directory.")

    def initialize_settings(self) -> None:
        """Build the server's parts in dependency order, each configured in its own
        section: the metrics, the broker (streams), the catalog (kernels), the service over
        both, and what answers the kernels' own requests over the service (given to the
        catalog when it starts). Report the metrics on jupyter_server's ``/metrics``."""
        serverapp = self.serverapp
        assert serverapp is not None
        self.metrics = Metrics()
        self.broker = Broker(parent=self, log=self.log, metrics=self.metrics)
        self.catalog = Catalog(
            parent=self,
            log=self.log,
            kernel_manager=serverapp.kernel_manager,
            server_url=serverapp.connection_url,
            metrics=self.metrics,
        )
        self.service = Service(
            parent=self,
            log=self.log,
            catalog=self.catalog,
            broker=self.broker,
            metrics=self.metrics,
            session_manager=serverapp.session_manager,
        )
        self.kernel_requests = KernelRequests(self.service)
        self.settings.update({"inferless_service": self.service})
        self.metrics_collector = MetricsCollector(self.metrics, self.catalog)
        self.metrics_collector.register()
        if not self.serve_path and importlib.util.find_spec("jupyterlab") is None:
            self.log.info(PANEL_NEEDS_LAB)
        # jupyter_server calls _start_jupyter_server_extension only when it runs its own
        # loop; embedded servers (tests, other apps) start the catalog from here.
        IOLoop.current().add_callback(self._begin)

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
            self._headless_task = asyncio.ensure_future(self._headless.start())

    @property
    def exit_code(self) -> int:
        """How serve_path's run ended, for the command line: 0, or 1 when it failed."""
        return 0 if self._headless is None else self._headless.exit_code

    def _begin(self) -> None:
        if not self.catalog.started:
            self.catalog.start(self.kernel_requests, getattr(self.serverapp, "event_logger", None))
        self.broker.start()

    async def stop_extension(self) -> None:
        """Withdraw the metrics; end open streams with an error, close every kernel link,
        stop pruning."""
        self.metrics_collector.unregister()
        if self._headless is not None:
            self._headless.close()
        self.broker.stop()
        await self.catalog.stop()
        self.service.decoding.close()
