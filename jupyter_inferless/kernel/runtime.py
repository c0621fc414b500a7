"""The serving runtime inside one ipykernel: the served models, serve() and stop().

The servers linked to the kernel are the LinkManager's (``links.py``); the runtime tells
it when the served models change and runs the requests its links receive. ``close`` (at
``%unload_ext``, and at a kernel shutdown or restart) stops every model and every thread
the runtime started, and undoes what it changed in the kernel.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from ..contract import check_model_name, parse_input_schema
from ..contract.errors import InferlessError
from ..protocol import ErrorKind, InferMessage, ModelDescription, RunError, Verdict, run_error
from .channel import RequestChannel
from .device import cuda_note, describe_device
from .link import Link
from .links import LinkManager
from .model import ModelAdapter, default_name, resolve
from .served import Served, ServeOptions
from .shutdown import ShutdownHook
from .workers import ServedModel

log = logging.getLogger("jupyter_inferless.kernel")
SHUTTING_DOWN = run_error(ErrorKind.KERNEL_GONE, "the kernel is shutting down or restarting")
STOPPED = run_error(ErrorKind.CANCELLED, "the model was stopped")
REPLACED = run_error(ErrorKind.CANCELLED, "the model was replaced")
VERDICT_WAIT = 2.0  # seconds serve() waits for the linked servers' verdict on the model
CLOSE_TIMEOUT = 5.0  # seconds close() waits for each thread it stops


class ReplicaRefused(InferlessError, ValueError):
    """A server already serves the name from another kernel with another schema."""


class Runtime:
    """The one runtime of this kernel."""

    _instance: ClassVar[Runtime | None] = None

    def __init__(self, kernel: Any, namespace: dict[str, Any]) -> None:
        self.kernel = kernel
        self.namespace = namespace
        self.runtime_id = uuid.uuid4().hex
        self.models: dict[str, ServedModel] = {}
        self.closed = False
        self._generations = itertools.count(1)
        self._closers: list[Callable[[], None]] = []
        self._close_lock = threading.Lock()
        self.link_manager = LinkManager(
            kernel, self.runtime_id, self.describe_models, self._run, lambda: bool(self.models)
        )
        # Models are finalized at a shutdown request: see shutdown.py for why this hook.
        self._shutdown_hook = ShutdownHook(kernel, self._at_shutdown)
        atexit.register(self._at_shutdown)  # an exit() of the interpreter itself

    @classmethod
    def existing(cls) -> Runtime | None:
        """The runtime of this kernel if one was started and not closed, else None."""
        return cls._instance

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
        try:
            adapter.initialize()
        except BaseException:
            adapter.close_loop()  # an async initialize() started the model's loop
            raise
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

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the runtime closes, before its links close (the inline
        views stop theirs so)."""
        if callback not in self._closers:
            self._closers.append(callback)

    def close(self, reason: RunError = STOPPED, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop everything the runtime started and undo what it changed in the kernel.

        The views are stopped, every model is stopped (its requests end with ``reason``,
        its finalize() runs), the links are closed and every thread ends (``timeout`` s
        for each); ``do_shutdown`` and the comm target are the kernel's own again, and
        :meth:`current` makes a new runtime from now on.
        """
        with self._close_lock:
            if self.closed:
                return
            self.closed = True
        for callback in self._closers:
            try:
                callback()
            except Exception:
                log.exception("closing %r failed", callback)
        self.stop_all(reason)
        self.link_manager.close(timeout)
        self._shutdown_hook.remove()
        atexit.unregister(self._at_shutdown)
        self._forget(self)

    @classmethod
    def _forget(cls, runtime: Runtime) -> None:
        if cls._instance is runtime:
            cls._instance = None

    def _at_shutdown(self) -> None:
        """The kernel shuts down or restarts: close, the requests ending ``kernel_gone``."""
        self.close(SHUTTING_DOWN)

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
