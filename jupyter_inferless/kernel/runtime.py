"""The serving runtime inside one ipykernel: the served models, serve() and stop().

The servers linked to the kernel are the LinkManager's (``links.py``); the runtime tells
it when the served models change and runs the requests its links receive.
"""

from __future__ import annotations

import atexit
import itertools
import logging
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
from ..contract.errors import InferlessError
from ..protocol import ErrorKind, InferMessage, ModelDescription, RunError, Verdict, run_error
from .device import cuda_note, describe_device
from .link import Link
from .links import LinkManager
from .model import ModelAdapter, default_name, resolve
from .outbox import RequestChannel
from .workers import ServedModel

log = logging.getLogger("jupyter_inferless.kernel")
SHUTTING_DOWN = run_error(ErrorKind.KERNEL_GONE, "the kernel is shutting down or restarting")
STOPPED = run_error(ErrorKind.CANCELLED, "the model was stopped")
REPLACED = run_error(ErrorKind.CANCELLED, "the model was replaced")
VERDICT_WAIT = 2.0  # seconds serve() waits for the linked servers' verdict on the model


class ReplicaRefused(InferlessError, ValueError):
    """A server already serves the name from another kernel with another schema."""


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


@dataclass(frozen=True)
class ServeOptions:
    """How to serve a model, as :func:`jupyter_inferless.serve` and ``%inferless serve``
    are told (see there); checked when made."""

    name: str | None = None
    input_schema: dict[str, Any] | None = None
    streaming: bool | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    queue_size: int = DEFAULT_QUEUE_SIZE

    def __post_init__(self) -> None:
        if not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
            raise ValueError(
                f"max_concurrency must be a positive integer, not {self.max_concurrency!r}"
            )
        if not isinstance(self.queue_size, int) or self.queue_size < 0:
            raise ValueError(f"queue_size must be a non-negative integer, not {self.queue_size!r}")


class Runtime:
    """The one runtime of this kernel."""

    _instance: ClassVar[Runtime | None] = None

    def __init__(self, kernel: Any, namespace: dict[str, Any]) -> None:
        self.kernel = kernel
        self.namespace = namespace
        self.runtime_id = uuid.uuid4().hex
        self.models: dict[str, ServedModel] = {}
        self._generations = itertools.count(1)
        self.link_manager = LinkManager(kernel, self.runtime_id, self.describe_models, self._run)
        self._finalize_at_shutdown(kernel)

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

    def serve(self, target: Any, options: ServeOptions) -> Served:
        """Initialise a model and serve it; see :func:`jupyter_inferless.serve`.

        Then waits (up to VERDICT_WAIT) for the linked servers' verdict: when one serves
        the name from another kernel with another schema, the model is stopped again and
        ReplicaRefused names the difference.
        """
        resolved = resolve(target, self.namespace)
        adapter = ModelAdapter(resolved.target)
        name = check_model_name(options.name or default_name(target, adapter))
        schema_source = options.input_schema
        if schema_source is None:
            schema_source = resolved.input_schema
        streaming = options.streaming
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
            self.stop(name, REPLACED)
        adapter.initialize()
        device = describe_device()
        note = cuda_note(resolved.cuda_requested, device)
        model = ServedModel(
            name,
            adapter,
            schema,
            device,
            options.max_concurrency,
            options.queue_size,
            resolved.source,
            [note] if note else [],
            next(self._generations),
        )
        self.models[name] = model
        self.link_manager.models_changed()
        verdict = self.link_manager.verdict(name, model.generation, VERDICT_WAIT)
        if verdict is not None and verdict["refused"]:
            self.stop(name)
            raise ReplicaRefused(f"{verdict['refused']}; {name!r} is not served from this kernel")
        return Served(name, schema.streaming, device["device"], self.server_url())

    def stop(self, name: str, reason: RunError = STOPPED) -> None:
        """Stop serving a model: cancel its requests, then call its finalize()."""
        model = self.models.pop(name, None)
        if model is None:
            served = ", ".join(sorted(self.models)) or "none"
            raise KeyError(f"no model named {name!r} is served (served: {served})")
        self.link_manager.models_changed()
        model.shutdown(reason)

    def stop_all(self, reason: RunError = STOPPED) -> None:
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

    def describe_models(self) -> list[ModelDescription]:
        """Every served model, described for the server."""
        return [model.describe() for model in list(self.models.values())]

    @property
    def links(self) -> dict[str, Link]:
        """The linked servers' links, by comm id."""
        return self.link_manager.links

    def verdict(self, name: str) -> Verdict | None:
        """The linked server's verdict on a served model: its replicas, or its refusal."""
        model = self.models.get(name)
        return self.link_manager.verdict(name, model.generation if model else 0)

    def server_url(self, wait: float = 0.0) -> str | None:
        """The URL of a linked Jupyter server (for what is printed), when one is linked.

        A server links within moments of ``%load_ext``; ``wait`` gives it that long.
        """
        return self.link_manager.server_url(wait)

    def _run(self, request: InferMessage, channel: RequestChannel) -> None:
        """Run a request a server sent; runs on the link's subshell, so keep it short."""
        model = self.models.get(request["model"])
        if model is None:
            detail = f"no model {request['model']!r} is served by this kernel"
            channel.end(run_error(ErrorKind.MODEL_NOT_FOUND, detail))
            return
        inputs = request.get("inputs") or {}
        if not isinstance(inputs, dict):
            channel.end(run_error(ErrorKind.INPUT_ERROR, "inputs must be an object"))
            return
        model.submit(request["rid"], inputs, channel)
