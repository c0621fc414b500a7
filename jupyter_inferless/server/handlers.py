"""Thin HTTP handlers: parse the request, call the service, write JSON. Routes at the end."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base_handler import InferlessHandler
from .service import ServiceError, v2_metadata, v2_outputs
from .stream_handlers import GenerateStreamHandler, ModelEventsHandler, StreamResourceHandler

MODEL = r"/inferless/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?"


class HealthHandler(InferlessHandler):
    """v2 health: live and ready."""

    @web.authenticated
    @authorized
    async def get(self, what: str) -> None:
        self.finish({what: True})


class ModelListHandler(InferlessHandler):
    """Every served model, with its kernel, notebook, device, schema and counters."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish({"models": await self.service.list_models()})


class ModelMetadataHandler(InferlessHandler):
    """v2 model metadata."""

    @web.authenticated
    @authorized
    async def get(self, name: str, version: str | None = None) -> None:
        try:
            _, entry = self.service.model(name)
        except ServiceError as err:
            self.fail(err)
        self.finish(v2_metadata(entry))


class ModelReadyHandler(InferlessHandler):
    """v2 model readiness: 200 once initialised and served."""

    @web.authenticated
    @authorized
    async def get(self, name: str, version: str | None = None) -> None:
        try:
            self.service.model(name)
        except ServiceError as err:
            self.fail(err)
        self.finish({"name": name, "ready": True})


class _OneShotHandler(InferlessHandler):
    """Shared by infer and generate: run to the end, answer one JSON."""

    async def run(self, name: str, body: Any) -> dict[str, Any]:
        try:
            _, entry = self.service.model(name)
        except ServiceError as err:
            self.fail(err)
        if entry.schema.streaming:
            raise web.HTTPError(
                400, f"model {name!r} streams its output; POST to .../{name}/generate_stream"
            )
        stream = self.start(name, body)
        try:
            outputs = await self.service.collect(stream)
        except ServiceError as err:
            self.fail(err)
        return outputs[-1] if outputs else {}


class InferHandler(_OneShotHandler):
    """v2 infer: tensors in, tensors out."""

    @web.authenticated
    @authorized
    async def post(self, name: str, version: str | None = None) -> None:
        body = self.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise web.HTTPError(
                400, 'a v2 infer request is {"inputs": [{"name", "shape", "datatype", "data"}]}'
            )
        output = await self.run(name, body)
        reply: dict[str, Any] = {"model_name": name, "model_version": version or "1"}
        if isinstance(body.get("id"), str):
            reply["id"] = body["id"]
        reply["outputs"] = v2_outputs(output)
        self.finish(reply)


class GenerateHandler(_OneShotHandler):
    """Triton generate: one JSON object of outputs."""

    @web.authenticated
    @authorized
    async def post(self, name: str, version: str | None = None) -> None:
        output = await self.run(name, self.json_body())
        self.finish({"model_name": name, "model_version": version or "1", **output})


def handlers() -> list[tuple[str, type[InferlessHandler]]]:
    """Routes, relative to the server's base_url."""
    return [
        (r"/inferless/v2/health/(?P<what>live|ready)", HealthHandler),
        (r"/inferless/api/models", ModelListHandler),
        (r"/inferless/api/models/events", ModelEventsHandler),
        (MODEL + r"/ready", ModelReadyHandler),
        (MODEL + r"/infer", InferHandler),
        (MODEL + r"/generate", GenerateHandler),
        (MODEL + r"/generate_stream", GenerateStreamHandler),
        (MODEL, ModelMetadataHandler),
        (r"/inferless/api/streams/(?P<rid>[^/]+)", StreamResourceHandler),
    ]
