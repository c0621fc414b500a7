"""Thin HTTP handlers: parse the request, call the service, write JSON. Routes at the end.

Refusals from the service, the catalog or the tensor framing propagate; the base handler
answers each with the status of ``http_errors``' table.
"""

from __future__ import annotations

from typing import Any, NoReturn

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..._version import __version__
from ...contract import INFER_VERB, STREAM_VERB
from ..decode import binary_tensors, bodies
from ..decode.binary_tensors import HEADER_LENGTH, OutputRequest
from ..errors import ModelStreams
from ..openapi import document as openapi
from ..service import v2_metadata, v2_outputs
from .base_handler import InferlessHandler
from .stream_handlers import GenerateStreamHandler, ModelEventsHandler, StreamResourceHandler

Wanted = OutputRequest | None
MODEL = r"/inferless/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?"
EXTENSIONS = ["binary_tensor_data", "generate"]


class ServerMetadataHandler(InferlessHandler):
    """v2 server metadata: name, version, the protocol extensions supported."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish({"name": "jupyter_inferless", "version": __version__, "extensions": EXTENSIONS})


class HealthHandler(InferlessHandler):
    """v2 health: live while the server answers; ready (200) while models are served and
    their kernels linked, else 400 ``{"ready": false, "error"}`` (KServe v2, as Triton)."""

    @web.authenticated
    @authorized
    async def get(self, what: str) -> None:
        why = self.service.catalog.unready() if what == "ready" else None
        if why is not None:
            self.set_status(400)
            self.finish({"ready": False, "error": why})
            return
        self.finish({what: True})


class ModelListHandler(InferlessHandler):
    """Every served model, with its schema, replicas (kernel, notebook, device, counters)
    and refused kernels."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish({"models": await self.service.list_models()})


class ModelMetadataHandler(InferlessHandler):
    """v2 model metadata."""

    @web.authenticated
    @authorized
    async def get(self, name: str, version: str | None = None) -> None:
        self.finish(v2_metadata(self.service.model(name).entry))


class ModelReadyHandler(InferlessHandler):
    """v2 model readiness: 200 once initialised and served."""

    @web.authenticated
    @authorized
    async def get(self, name: str, version: str | None = None) -> None:
        self.service.model(name)
        self.finish({"name": name, "ready": True})


class _OneShotHandler(InferlessHandler):
    """Shared by infer and generate: run to the end, answer one JSON."""

    metered = True

    async def run(self, name: str, infer: bool = False) -> tuple[dict[str, Any], Any, Wanted]:
        """The request's output; a small body is parsed here first, a large one by a decode
        thread or process once the model is found. ``infer``: a v2 infer request, whose id
        and wanted outputs come back too."""
        await self.service.turns.enter()  # a burst starts a few runs per turn of the loop
        large = self.large_body()
        request, wanted = (None, None) if large else self.small_request(infer)
        if self.find_model(name).schema.streaming:
            raise ModelStreams(
                f"model {name!r} streams its output; POST to .../{name}/{STREAM_VERB}"
            )
        if large:
            stream, read = await self.start_large(name, infer)
            request_id, wanted = read.id, read.wanted
        else:
            stream = self.start(name, request)
            request_id = request.get("id") if infer and request is not None else None
        outputs = await self.service.collect(stream)  # RunFailed: a status by its kind
        return (outputs[-1] if outputs else {}), request_id, wanted

    def small_request(self, infer: bool) -> tuple[Any, Wanted]:
        """A small body, parsed on the loop: the request, and what outputs it wants."""
        return bodies.infer_request(self.body(infer=True)) if infer else (self.json_body(), None)


class InferHandler(_OneShotHandler):
    """v2 infer: tensors in, tensors out, as JSON or Triton's binary tensor data."""

    @web.authenticated
    @authorized
    async def post(self, name: str, version: str | None = None) -> None:
        output, request_id, wanted = await self.run(name, infer=True)
        assert wanted is not None
        reply: dict[str, Any] = {"model_name": name, "model_version": version or "1"}
        if isinstance(request_id, str):
            reply["id"] = request_id
        content, header_length = binary_tensors.build_response(reply, v2_outputs(output), wanted)
        if header_length is None:
            self.finish(content)
        else:
            self.set_header(HEADER_LENGTH, str(header_length))
            self.finish(content, set_content_type="application/octet-stream")


class GenerateHandler(_OneShotHandler):
    """Triton generate: one JSON object of outputs."""

    @web.authenticated
    @authorized
    async def post(self, name: str, version: str | None = None) -> None:
        output, _, _ = await self.run(name)
        self.finish({"model_name": name, "model_version": version or "1", **output})


class OpenAPIHandler(InferlessHandler):
    """The OpenAPI 3.1 document of these endpoints, with the models served now."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(openapi.document(self.base_url, self.service.catalog.served().values()))


class NotFoundHandler(InferlessHandler):
    """Any other path under inferless/: a JSON 404, after authentication like the rest."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.missing()

    @web.authenticated
    @authorized
    async def head(self) -> None:
        self.missing()

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.missing()

    @web.authenticated
    @authorized
    async def put(self) -> None:
        self.missing()

    @web.authenticated
    @authorized
    async def patch(self) -> None:
        self.missing()

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        self.missing()

    def missing(self) -> NoReturn:
        """Answer 404, naming the path (never the query: it may hold the token)."""
        path = self.request.path
        raise web.HTTPError(404, f"no endpoint {self.request.method} {path[:200]}")


def handlers() -> list[tuple[str, type[InferlessHandler]]]:
    """Routes, relative to the server's base_url."""
    return [
        (r"/inferless/v2/health/(?P<what>live|ready)", HealthHandler),
        (r"/inferless/api/models", ModelListHandler),
        (r"/inferless/api/models/events", ModelEventsHandler),
        (MODEL + r"/ready", ModelReadyHandler),
        (MODEL + "/" + INFER_VERB, InferHandler),
        (MODEL + r"/generate", GenerateHandler),
        (MODEL + "/" + STREAM_VERB, GenerateStreamHandler),
        (MODEL, ModelMetadataHandler),
        (r"/inferless/api/streams/(?P<rid>[^/]+)", StreamResourceHandler),
        (r"/inferless/v2/?", ServerMetadataHandler),
        ("/" + openapi.DOCUMENT_PATH.replace(".", r"\."), OpenAPIHandler),
        (r"/inferless(?:/.*)?", NotFoundHandler),  # last: what no route above matched
    ]
