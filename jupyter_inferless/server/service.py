"""The serving logic behind the handlers: validate, start, collect, cancel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..contract import InputError, ModelNameError, ModelSchema, check_model_name
from .bridge import KernelBridge
from .broker import Broker, Stream
from .catalog import Catalog, ModelLookupError
from .model_entry import KernelGone, ModelEntry


class ServiceError(Exception):
    """A request the service refuses, with the HTTP status to answer."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass
class ServiceConfig:
    """The settings the handlers need, taken from the extension's traits."""

    heartbeat_interval: float = 15.0
    retry_ms: int = 2000
    disconnect_grace: float = 30.0
    max_body_bytes: int = 10 * 1024 * 1024


class Service:
    """What the HTTP handlers call."""

    def __init__(
        self,
        catalog: Catalog,
        broker: Broker,
        config: ServiceConfig,
        session_manager: Any = None,
    ) -> None:
        self.catalog = catalog
        self.broker = broker
        self.config = config
        self.session_manager = session_manager
        self._grace: dict[str, asyncio.TimerHandle] = {}

    async def list_models(self) -> list[dict[str, Any]]:
        """Every served model: its description, kernel, notebook and counters."""
        sessions = await self.notebook_paths()
        models = []
        for entry in self.catalog.models():
            described = dict(entry.description)
            described.update(
                kernel_id=entry.kernel_id,
                notebook=sessions.get(entry.kernel_id),
                counters={
                    "requests": entry.requests,
                    "events": entry.events,
                    "errors": entry.errors,
                    "active": entry.active,
                },
            )
            models.append(described)
        return models

    async def notebook_paths(self) -> dict[str, str]:
        """Kernel id to the path of the notebook (session) using it."""
        if self.session_manager is None:
            return {}
        sessions = await self.session_manager.list_sessions()
        return {s["kernel"]["id"]: s.get("path") for s in sessions if s.get("kernel")}

    def model(self, name: str) -> tuple[KernelBridge, ModelEntry]:
        """The model called ``name``, or a 400/404/409 ServiceError."""
        try:
            check_model_name(name)
        except ModelNameError as err:
            raise ServiceError(400, str(err)) from None
        try:
            return self.catalog.find(name)
        except ModelLookupError as err:
            raise ServiceError(err.status, str(err)) from None

    def start(self, name: str, decode: Callable[[ModelSchema], dict[str, Any]]) -> Stream:
        """Validate inputs with the model's schema and start the request."""
        bridge, entry = self.model(name)
        try:
            inputs = decode(entry.schema)
        except InputError as err:
            raise ServiceError(400, str(err)) from None
        if entry.active >= entry.capacity:
            raise ServiceError(
                429,
                f"model {name!r} is busy: {entry.active} requests running or queued "
                f"(max concurrency {entry.max_concurrency}, queue {entry.queue_size})",
                retry_after=1,
            )
        stream = self.broker.create(name, bridge.kernel_id)
        try:
            bridge.start(stream, inputs)
        except KernelGone as err:
            raise ServiceError(503, str(err), retry_after=1) from None
        except (TypeError, ValueError) as err:  # inputs the kernel protocol cannot carry
            bridge.abandon(stream)
            raise ServiceError(400, f"the inputs cannot be sent to the kernel: {err}") from None
        return stream

    def cancel(self, stream: Stream) -> None:
        """Cancel a request down to the model's loop."""
        bridge = self.catalog.bridges.get(stream.kernel_id)
        if bridge is not None:
            bridge.cancel(stream.rid)

    def subscribe(self, stream: Stream) -> None:
        """A client is reading the stream."""
        stream.subscribers += 1
        handle = self._grace.pop(stream.rid, None)
        if handle is not None:
            handle.cancel()

    def unsubscribe(self, stream: Stream) -> None:
        """A client left; with nobody left, cancel after the grace period."""
        stream.subscribers -= 1
        if stream.subscribers > 0 or stream.ended:
            return
        loop = asyncio.get_running_loop()
        self._grace[stream.rid] = loop.call_later(
            self.config.disconnect_grace, self._expire, stream
        )

    def _expire(self, stream: Stream) -> None:
        self._grace.pop(stream.rid, None)
        if stream.subscribers == 0 and not stream.ended:
            self.cancel(stream)

    async def collect(self, stream: Stream) -> list[dict[str, Any]]:
        """Wait for a request's end and return its outputs; an in-band error raises ServiceError."""
        outputs: list[dict[str, Any]] = []
        self.subscribe(stream)
        try:
            while True:
                await stream.wait(stream.consumed, 3600.0)
                lines = stream.read(stream.consumed)
                outputs.extend(json.loads(line) for line in lines)
                stream.advance(stream.consumed + len(lines))
                if stream.ended and stream.consumed == stream.total:
                    break
        finally:
            self.unsubscribe(stream)
        if stream.error:
            raise ServiceError(_status_of(stream.error), stream.error)
        return outputs


def _status_of(error: str) -> int:
    """Map an in-band error to a status; like Triton, a failed inference is a 400."""
    if error.startswith(("KernelGone", "cancelled")):
        return 503
    return 400


def v2_outputs(output: dict[str, Any]) -> list[dict[str, Any]]:
    """A model's output dict as KServe v2 output tensors."""
    tensors = []
    for key, value in output.items():
        data = value if isinstance(value, list) else [value]
        tensors.append(
            {"name": key, "datatype": _datatype(data), "shape": [len(data)], "data": data}
        )
    return tensors


def _datatype(data: list[Any]) -> str:
    if data and all(isinstance(item, bool) for item in data):
        return "BOOL"
    if data and all(isinstance(item, int) and not isinstance(item, bool) for item in data):
        return "INT64"
    if data and all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in data):
        return "FP64"
    return "BYTES"


def v2_metadata(entry: ModelEntry) -> dict[str, Any]:
    """KServe v2 model metadata."""
    return {
        "name": entry.name,
        "versions": ["1"],
        "platform": "jupyter_inferless",
        "inputs": [
            {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}
            for spec in entry.schema.inputs
        ],
        "outputs": [],
        "parameters": {"streaming": entry.schema.streaming},
    }
