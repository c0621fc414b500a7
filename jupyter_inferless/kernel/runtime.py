"""The serving runtime inside one ipykernel: served models, server links, announcements."""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from ..contract import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_QUEUE_SIZE,
    check_model_name,
    endpoint_path,
    parse_input_schema,
)
from ..protocol import ANNOUNCE_COMM_ID, PROTOCOL_VERSION, TARGET_NAME
from .device import cuda_note, describe_device
from .link import Link, iopub_publisher
from .model import ModelAdapter, default_name, resolve
from .workers import ServedModel

log = logging.getLogger("jupyter_inferless.kernel")
SHUTTING_DOWN = "KernelGone: the kernel is shutting down or restarting"


@dataclass(frozen=True)
class Served:
    """What serve() returns: the model's name and where to reach it."""

    name: str
    streaming: bool
    device: str
    server_url: str | None

    @property
    def path(self) -> str:
        """The stream (or infer) path under the server's base URL."""
        return endpoint_path(self.name, self.streaming)

    def __repr__(self) -> str:
        where = (self.server_url or "<jupyter server>/").rstrip("/") + "/" + self.path
        return f"<served {self.name!r} on {self.device}: POST {where}>"


class Runtime:
    """The one runtime of this kernel."""

    _instance: ClassVar[Runtime | None] = None

    def __init__(self, kernel: Any, namespace: dict[str, Any]) -> None:
        self.kernel = kernel
        self.namespace = namespace
        self.runtime_id = uuid.uuid4().hex
        self.models: dict[str, ServedModel] = {}
        self.links: dict[str, Link] = {}
        self._announce = iopub_publisher(kernel, ANNOUNCE_COMM_ID, None)
        self._kick = threading.Event()
        self._linked = threading.Event()
        self._fast_until = time.monotonic() + 5.0
        kernel.comm_manager.register_target(TARGET_NAME, self._on_open)
        self._finalize_at_shutdown(kernel)
        threading.Thread(target=self._beacon, name="inferless-announce", daemon=True).start()

    @classmethod
    def current(cls) -> Runtime:
        """The runtime of the running kernel, created on first use."""
        if cls._instance is None:
            from IPython import get_ipython

            shell = get_ipython()
            kernel = getattr(shell, "kernel", None)
            if shell is None or kernel is None or not hasattr(kernel, "comm_manager"):
                raise RuntimeError(
                    "jupyter_inferless serves models from a Jupyter kernel (ipykernel); "
                    "run this in a notebook or a kernel started by a Jupyter server"
                )
            cls._instance = Runtime(kernel, shell.user_ns)
        return cls._instance

    def serve(
        self,
        target: Any,
        *,
        name: str | None = None,
        input_schema: dict[str, Any] | None = None,
        streaming: bool | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> Served:
        """Initialise a model and serve it; see :func:`jupyter_inferless.serve`."""
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive integer, not {max_concurrency!r}")
        if not isinstance(queue_size, int) or queue_size < 0:
            raise ValueError(f"queue_size must be a non-negative integer, not {queue_size!r}")
        resolved = resolve(target, self.namespace)
        adapter = ModelAdapter(resolved.target)
        name = check_model_name(name or default_name(target, adapter))
        schema_source = input_schema if input_schema is not None else resolved.input_schema
        if streaming is None and resolved.streaming is not None:
            streaming = bool(resolved.streaming)
        if streaming is None:
            streaming = adapter.infer_takes_handler
        schema = parse_input_schema(schema_source, streaming=bool(streaming))
        if schema.streaming and not adapter.infer_takes_handler:
            raise ValueError(
                f"{adapter.class_name}.infer(inputs) takes no stream_output_handler, "
                "but the model is declared streaming (IS_STREAMING_OUTPUT = True)"
            )
        if name in self.models:
            self.stop(name, "cancelled: the model was replaced")
        adapter.initialize()
        device = describe_device()
        note = cuda_note(resolved.cuda_requested, device)
        model = ServedModel(
            name,
            adapter,
            schema,
            device,
            max_concurrency,
            queue_size,
            resolved.source,
            [note] if note else [],
        )
        self.models[name] = model
        self._changed()
        return Served(name, schema.streaming, device["device"], self.server_url)

    def stop(self, name: str, reason: str = "cancelled: the model was stopped") -> None:
        """Stop serving a model: cancel its requests, then call its finalize()."""
        model = self.models.pop(name, None)
        if model is None:
            served = ", ".join(sorted(self.models)) or "none"
            raise KeyError(f"no model named {name!r} is served (served: {served})")
        self._changed()
        model.shutdown(reason)

    def stop_all(self, reason: str = "cancelled: the model was stopped") -> None:
        """Stop every model (at kernel shutdown too, so finalize() runs)."""
        for name in list(self.models):
            try:
                self.stop(name, reason)
            except Exception:
                log.exception("finalize of %r failed", name)

    def _finalize_at_shutdown(self, kernel: Any) -> None:
        """Run every model's finalize() when the kernel shuts down or restarts.

        A shutdown request reaches ``do_shutdown`` before the interpreter joins the
        worker threads, so running models are cancelled first; atexit covers an
        ``exit()`` from the notebook.
        """
        original = kernel.do_shutdown

        def do_shutdown(restart: bool) -> Any:
            self.stop_all(SHUTTING_DOWN)
            return original(restart)

        kernel.do_shutdown = do_shutdown
        atexit.register(self.stop_all, SHUTTING_DOWN)

    def describe_models(self) -> list[dict[str, Any]]:
        """Every served model, described for the server."""
        return [model.describe() for model in list(self.models.values())]

    def server_access(self, wait: float = 0.0) -> tuple[str, str] | None:
        """URL and token of an attached Jupyter server, for clients inside this kernel.

        A server links within moments of ``%load_ext``; ``wait`` gives it that long.
        """
        self._linked.wait(wait)
        for link in list(self.links.values()):
            if link.server_url:
                return link.server_url, link.server_token
        return None

    @property
    def server_url(self) -> str | None:
        """The URL of an attached Jupyter server, when one is attached."""
        for link in list(self.links.values()):
            if link.server_url:
                return link.server_url
        return None

    def _on_open(self, comm: Any, open_msg: dict[str, Any]) -> None:
        link = Link(self, comm, open_msg)
        self.links[link.comm_id] = link
        link.send_models("hello")
        self._linked.set()

    def _changed(self) -> None:
        for link in list(self.links.values()):
            try:
                link.send_models()
            except Exception:  # IOPub is closed at kernel exit; finalize must still run
                log.debug("could not tell the server about the change", exc_info=True)
        self._fast_until = time.monotonic() + 5.0
        self._kick.set()

    def _beacon(self) -> None:
        """Announce this runtime on IOPub until a server attaches."""
        while True:
            if not self.links:
                self._announce(
                    {"op": "announce", "runtime": self.runtime_id, "protocol": PROTOCOL_VERSION}
                )
            fast = time.monotonic() < self._fast_until
            self._kick.wait(0.2 if fast else 5.0)
            self._kick.clear()
