"""The OpenAPI 3.1 document of the extension's HTTP surface, built from the served models.

``document`` is called per request with the models the catalog serves now, so a model
appears as soon as it is served and is gone once stopped. Each model gets its own paths,
whose request schemas are the ones the server validates its requests against (``inputs``);
the paths no model changes are ``fixed``'s; refusals, headers and security are in
``parts``. A streaming model has no infer nor generate here: each answers 400 to any
request, naming generate_stream. Pure: no I/O, no tornado.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from ..._version import __version__
from ...contract import INFER_VERB, STREAM_VERB, ModelSchema
from .fixed import DOCUMENT_PATH as DOCUMENT_PATH  # the handlers' route
from .fixed import fixed_paths, flag, last_event_id, stream_responses
from .inputs import model_schemas, query_parameters
from .parts import (
    EVENT,
    MODEL_METADATA,
    OUTPUT_TENSOR,
    SECURITY,
    Schema,
    components,
    json_content,
    ok,
    ref,
)
from .parts import refusals as refused

OPENAPI_VERSION = "3.1.0"
STARTS = (429, 503)  # refusals of a request that would start a run
VERSION: Schema = {
    "name": "version",
    "in": "path",
    "required": True,
    "description": "A Triton model version: every model is served as version 1, and any "
    "version is taken for it.",
    "schema": {"type": "string"},
}


class Served(Protocol):
    """What the document needs of a served model (the catalog's Replicas: the replicas'
    concurrency and queue summed)."""

    name: str

    @property
    def schema(self) -> ModelSchema: ...

    @property
    def max_concurrency(self) -> int: ...

    @property
    def queue_size(self) -> int: ...


def document(base_url: str, models: Iterable[Served]) -> dict[str, Any]:
    """The OpenAPI 3.1 document, its server relative to ``base_url``."""
    paths = fixed_paths()
    parts = components()
    for model in sorted(models, key=lambda model: model.name):  # a name: one model
        parts["schemas"].update(model_schemas(model.name, model.schema))
        paths.update(model_paths(model))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "jupyter_inferless",
            "version": __version__,
            "description": "Models served from notebook kernels, over Inferless/Triton "
            "(KServe v2) endpoints and Server-Sent Events. The paths under "
            "`/inferless/v2/models/NAME` are those of the models served when this document "
            "was built: serve another and it appears here. A streaming model's infer and "
            "generate are not listed: they answer 400, naming generate_stream. Every error "
            'before a stream starts is JSON `{"error": "...", "kind": "..."}`; a stream that '
            'fails after its 200 ends with the event `{"error": "...", "kind": "...", '
            '"type": "..."}`. `kind` is an ErrorKind: clients decide by it.',
        },
        "servers": [{"url": base_url.rstrip("/") or "/", "description": "this Jupyter server"}],
        "security": SECURITY,
        "paths": paths,
        "components": parts,
    }


def model_paths(model: Served) -> dict[str, Schema]:
    """The paths of one model: plain and under ``versions/{version}``."""
    paths: dict[str, Schema] = {}
    for versioned in (False, True):
        base = f"/inferless/v2/models/{model.name}" + ("/versions/{version}" if versioned else "")
        suffix = "_versioned" if versioned else ""
        operations = {
            "": {"get": _metadata(model)},
            "/ready": {"get": _ready(model)},
            "/" + STREAM_VERB: {"post": _stream(model, query=False), "get": _stream(model, True)},
        }
        if not model.schema.streaming:  # a streaming model's answer 400 (not listed)
            operations["/" + INFER_VERB] = {"post": _infer(model)}
            operations["/generate"] = {"post": _generate(model)}
        for tail, item in operations.items():
            for method, operation in item.items():
                operation["operationId"] = f"{model.name}{tail or '/metadata'}:{method}{suffix}"
                operation["tags"] = [model.name]
            paths[base + tail] = {**item, "parameters": [VERSION] if versioned else []}
    return paths


def _metadata(model: Served) -> Schema:
    return {
        "summary": f"v2 metadata of {model.name}",
        "responses": {
            **ok("Its inputs and streaming flag", MODEL_METADATA),
            **refused(403, 404),
        },
    }


def _ready(model: Served) -> Schema:
    ready = flag("ready", {"name": {"const": model.name}})
    return {
        "summary": f"Whether {model.name} is ready (it is, while served)",
        "responses": {**ok("Ready", ready), **refused(403, 404)},
    }


def _infer(model: Served) -> Schema:
    infer_reply = {
        "type": "object",
        "properties": {
            "model_name": {"const": model.name},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": OUTPUT_TENSOR},
        },
        "required": ["model_name", "model_version", "outputs"],
    }
    binary = "The JSON header of Inference-Header-Content-Length bytes, then binary outputs"
    response = {
        "description": "The model's output as v2 tensors",
        "headers": {
            "Inference-Header-Content-Length": {
                "description": "With binary outputs: the length of the JSON header",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        },
        "content": {
            **json_content(infer_reply),
            "application/octet-stream": {"schema": {"description": binary}},
        },
    }
    operation: Schema = {"summary": f"v2 infer: run {model.name} to its end"}
    operation["responses"] = {"200": response, **_start_refusals(model)}
    operation["description"] = (
        "Also Triton's binary tensor extension: an `Inference-Header-Content-Length` header "
        "gives the length of the JSON request that starts the body; the raw bytes of each "
        "input whose `parameters.binary_data_size` says how many follow, in order."
    )
    operation["requestBody"] = {
        "required": True,
        "content": json_content(ref("schemas", f"tensors.{model.name}")),
    }
    return operation


def _generate(model: Served) -> Schema:
    reply = {
        "type": "object",
        "description": "model_name and model_version, then the keys of the model's output",
        "properties": {"model_name": {"type": "string"}, "model_version": {"type": "string"}},
        "required": ["model_name", "model_version"],
    }
    response = {"description": "The model's output", "content": json_content(reply)}
    return {
        "summary": f"Triton generate: run {model.name} to its end",
        "requestBody": _body(model),
        "responses": {"200": response, **_start_refusals(model)},
    }


def _stream(model: Served, query: bool) -> Schema:
    data = {"anyOf": [EVENT, ref("schemas", "InBandError")]}
    streamed = (
        "Server-Sent Events, one per send_streamed_output"
        if model.schema.streaming
        else ("Server-Sent Events: one event, the model's output")
    )
    operation: Schema = {
        "summary": f"Stream {model.name}" + (" (GET form, for EventSource)" if query else ""),
        "parameters": last_event_id(),
        "responses": {
            **stream_responses(streamed, data),
            **_start_refusals(model, post=not query),
            **refused(410),
        },
    }
    if query:
        operation["parameters"] = query_parameters(model.schema) + operation["parameters"]
    else:
        operation["requestBody"] = _body(model)
    return operation


def _body(model: Served) -> Schema:
    required = any(spec.required for spec in model.schema.inputs)
    return {"required": required, "content": json_content(ref("schemas", f"inputs.{model.name}"))}


def _start_refusals(model: Served, post: bool = True) -> dict[str, Schema]:
    responses = refused(400, 403, 404, *((413,) if post else ()), *STARTS)
    capacity = model.max_concurrency + model.queue_size
    busy = f"{model.name} runs {model.max_concurrency} and queues {model.queue_size} "
    busy += "(over all its replicas): "
    responses["429"] = {**responses["429"], "description": busy + f"a request beyond {capacity}."}
    return responses
