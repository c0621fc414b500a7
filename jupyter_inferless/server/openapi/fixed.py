"""The paths of the OpenAPI document that no served model changes: v2 server metadata and
health, the model list, streams by id, the document itself; and the pieces the models'
stream paths share with them. Pure: no I/O, no tornado."""

from __future__ import annotations

from .parts import EVENT, SERVER_METADATA, Schema, event_stream, json_content, ok, ref
from .parts import refusals as refused

DOCUMENT_PATH = "inferless/api/openapi.json"
NOT_READY: Schema = {
    "type": "object",
    "properties": {"ready": {"const": False}, "error": {"type": "string"}},
    "required": ["ready", "error"],
}


def fixed_paths() -> dict[str, Schema]:
    """The routes that do not depend on the served models."""
    stream_id = {"name": "rid", "in": "path", "required": True, "schema": {"type": "string"}}
    state = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "cancelled": {"type": "boolean"},
            "state": {"enum": ["ended", "cancelling"]},
        },
        "required": ["id", "cancelled", "state"],
    }
    models = ref("schemas", "ModelList")
    return {
        "/inferless/v2": _get("server_metadata", "v2 server metadata", SERVER_METADATA),
        "/inferless/v2/health/live": _get("health_live", "v2 liveness", flag("live")),
        "/inferless/v2/health/ready": health_ready(),
        "/inferless/api/models": _get("list_models", "Every served model", models),
        "/inferless/api/models/events": {
            "get": {
                "operationId": "watch_models",
                "summary": "The model list pushed as SSE: on every change, counters each second",
                "responses": {
                    "200": event_stream("The list, as each event's data", models, stream=False),
                    **refused(403),
                },
            }
        },
        "/" + DOCUMENT_PATH: _get("openapi", "This document", {"type": "object"}),
        "/inferless/api/streams/{rid}": {
            "parameters": [stream_id],
            "get": {
                "operationId": "resume_stream",
                "summary": "Attach to a stream, or resume it after Last-Event-ID",
                "parameters": last_event_id(),
                "responses": {**stream_responses(), **refused(400, 403, 404, 410)},
            },
            "delete": {
                "operationId": "cancel_stream",
                "summary": "Cancel the request, down to the model's loop",
                "responses": {
                    **ok("The stream had already ended", state),
                    "202": {"description": "Cancelling", "content": json_content(state)},
                    **refused(403, 404),
                },
            },
        },
    }


def health_ready() -> Schema:
    """KServe v2 readiness: 200 while models are served and their kernels linked, else 400."""
    not_ready = "Not ready: no model is served, or one has no linked kernel (the error says)"
    responses = {
        **ok("Ready", flag("ready")),
        "400": {"description": not_ready, "content": json_content(NOT_READY)},
        **refused(403),
    }
    summary = "v2 readiness: models are served, each with a linked kernel"
    return {"get": {"operationId": "health_ready", "summary": summary, "responses": responses}}


def stream_responses(streamed: str = "The stream's events", data: Schema | None = None) -> Schema:
    """A stream's 200 (events) and 204 (ended and delivered, or ended empty)."""
    data = data or {"anyOf": [EVENT, ref("schemas", "InBandError")]}
    ended = "The stream named by Last-Event-ID ended and was delivered (or, GET form, ended empty)"
    return {"200": event_stream(streamed, data), "204": {"description": ended}}


def last_event_id() -> list[Schema]:
    """Last-Event-ID as a header or a query parameter."""
    return [ref("parameters", "LastEventIdHeader"), ref("parameters", "LastEventIdQuery")]


def flag(name: str, extra: Schema | None = None) -> Schema:
    """An object whose ``name`` is true (and ``extra`` properties)."""
    properties = {name: {"const": True}, **(extra or {})}
    return {"type": "object", "properties": properties, "required": list(properties)}


def _get(operation_id: str, summary: str, schema: Schema) -> Schema:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "responses": {**ok(summary, schema), **refused(403)},
        }
    }
