"""Adapts a user's InferlessPythonModel (class or instance) to one calling convention."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ...contract.errors import ModelContractError, OutputError
from .event_loop import ModelLoop
from .handler import StreamOutputHandler


class ModelAdapter:
    """Calls initialize / infer / finalize whatever their exact signatures are.

    ``infer`` may take ``(inputs)`` or ``(inputs, stream_output_handler)`` and may
    be ``async def``; ``finalize`` may take ``()`` or ``(args)``. Every coroutine of one
    model runs on that model's one long-lived event loop (``ModelLoop``), made when the
    first coroutine comes and closed after ``finalize``.
    """

    def __init__(self, target: Any) -> None:
        self.instance = instantiate(target)
        self.class_name = type(self.instance).__name__
        infer = getattr(self.instance, "infer", None)
        if not callable(infer):
            raise ModelContractError(
                f"{self.class_name} has no infer(inputs, stream_output_handler) method"
            )
        self._infer = infer
        self.infer_takes_handler = _positional_count(infer) >= 2
        self.infer_is_async = inspect.iscoroutinefunction(infer)
        self._loop: ModelLoop | None = None

    @property
    def loop(self) -> ModelLoop:
        """The model's event loop, started on first use."""
        if self._loop is None:
            self._loop = ModelLoop(self.class_name)
        return self._loop

    def initialize(self) -> None:
        """Run the model's initialize(), if it has one."""
        initialize = getattr(self.instance, "initialize", None)
        if callable(initialize):
            self._run(initialize())

    def finalize(self) -> None:
        """Run the model's finalize() or finalize(args), if it has one; close its loop."""
        finalize = getattr(self.instance, "finalize", None)
        try:
            if callable(finalize):
                self._run(finalize({}) if _positional_count(finalize) >= 1 else finalize())
        finally:
            self.close_loop()

    def close_loop(self) -> None:
        """Close the model's event loop and stop its thread, if it has one."""
        if self._loop is not None:
            self._loop.close()

    def infer(self, inputs: dict[str, Any], handler: StreamOutputHandler) -> None:
        """Run one request to its end, sending through ``handler``.

        A model that takes no handler returns its output dict, which becomes the
        single event. The caller releases the request if the model did not.
        """
        if self.infer_takes_handler:
            self._deliver(self._run(self._infer(inputs, handler)), handler)
        else:
            self._deliver(self._run(self._infer(inputs)), handler)

    async def ainfer(self, inputs: dict[str, Any], handler: StreamOutputHandler) -> None:
        """``infer`` for an ``async def infer``, awaited on the model's loop."""
        if self.infer_takes_handler:
            self._deliver(await self._infer(inputs, handler), handler)
        else:
            self._deliver(await self._infer(inputs), handler)

    def _deliver(self, result: Any, handler: StreamOutputHandler) -> None:
        """A returned dict is the single event of a model that sent none."""
        if self.infer_takes_handler:
            if result is not None and not handler.finished and handler.events_sent == 0:
                handler.send_streamed_output(_as_output(result, self.class_name))
            return
        handler.send_streamed_output(_as_output(result, self.class_name))
        handler.finalise_streamed_output()

    def _run(self, result: Any) -> Any:
        """Await a coroutine on the model's loop (the caller is another thread)."""
        if inspect.iscoroutine(result):
            return self.loop.run(result)
        return result


def instantiate(target: Any) -> Any:
    """An instance of ``target``: a class is constructed with no arguments."""
    if inspect.isclass(target):
        try:
            return target()
        except TypeError as err:
            raise ModelContractError(
                f"{target.__name__}() could not be constructed without arguments ({err}); "
                "serve an instance instead"
            ) from err
    if callable(getattr(target, "infer", None)):
        return target
    raise ModelContractError(
        f"{target!r} is not a model: serve a class or an instance with an infer() method"
    )


def _positional_count(method: Any) -> int:
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return 2
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(1 for p in parameters if p.kind in kinds)


def _as_output(result: Any, class_name: str) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        raise OutputError(
            f"{class_name}.infer returned {type(result).__name__}; "
            "return a dict such as {'OUT': text}"
        )
    return dict(result)
