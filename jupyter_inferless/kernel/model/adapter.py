"""Adapts a user's InferlessPythonModel (class or instance) to one calling convention."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import Any

from ...contract.errors import ModelContractError, OutputError
from .handler import StreamOutputHandler


class ModelAdapter:
    """Calls initialize / infer / finalize whatever their exact signatures are.

    ``infer`` may take ``(inputs)`` or ``(inputs, stream_output_handler)`` and may
    be ``async def``; ``finalize`` may take ``()`` or ``(args)``.
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

    def initialize(self) -> None:
        """Run the model's initialize(), if it has one."""
        initialize = getattr(self.instance, "initialize", None)
        if callable(initialize):
            _run(initialize())

    def finalize(self) -> None:
        """Run the model's finalize() or finalize(args), if it has one."""
        finalize = getattr(self.instance, "finalize", None)
        if not callable(finalize):
            return
        _run(finalize({}) if _positional_count(finalize) >= 1 else finalize())

    def infer(self, inputs: dict[str, Any], handler: StreamOutputHandler) -> None:
        """Run one request to its end, sending through ``handler``.

        A model that takes no handler returns its output dict, which becomes the
        single event. The caller releases the request if the model did not.
        """
        if self.infer_takes_handler:
            result = _run(self._infer(inputs, handler))
            if result is not None and not handler.finished and handler.events_sent == 0:
                handler.send_streamed_output(_as_output(result, self.class_name))
            return
        result = _run(self._infer(inputs))
        handler.send_streamed_output(_as_output(result, self.class_name))
        handler.finalise_streamed_output()


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


def _run(result: Any) -> Any:
    """Await a coroutine on a private event loop (we are on a worker thread)."""
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    return result


def _as_output(result: Any, class_name: str) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        raise OutputError(
            f"{class_name}.infer returned {type(result).__name__}; "
            "return a dict such as {'OUT': text}"
        )
    return dict(result)
