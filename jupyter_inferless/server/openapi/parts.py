"""The fixed parts of the OpenAPI document: errors, headers, response schemas, security.

Each refusal's status is the one ``http_errors`` (or a handler) answers with; the body is
always the base handler's ``{"error": "...", "kind": KIND}``, KIND one of ``ErrorKind``.
Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from ...protocol import IN_BAND, ErrorKind
from .listing import SCHEMAS as LISTING

Schema = dict[str, Any]

ERROR: Schema = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "what was wrong"},
        "kind": {"$ref": "#/components/schemas/ErrorKind"},
    },
    "required": ["error", "kind"],
}
ERROR_KINDS: dict[str, Schema] = {  # clients decide by the kind, never by the text
    "ErrorKind": {"enum": [kind.value for kind in ErrorKind], "description": "Why it failed."},
    "InBandErrorKind": {
        "enum": [kind.value for kind in IN_BAND],
        "description": "Why a run ended.",
    },
}

RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Refused: the inputs, the body or the event id break a rule (named)."),
    403: (
        "Forbidden",
        "Not authenticated (no or a wrong token), not authorised, or a request with the login "
        "cookie that another site may have made.",
    ),
    404: ("NotFound", "No such model (no kernel serves it now), or no such stream."),
    410: ("Gone", "The events after that id are no longer kept."),
    413: ("TooLarge", "The body is larger than the server accepts (c.Service.max_body_bytes)."),
    429: (
        "Busy",
        "Every replica of the model runs and queues as many requests as it may; retry after "
        "a while.",
    ),
    503: (
        "Unavailable",
        "The model's kernel is not linked (restarting or gone; with Retry-After), or, for "
        "infer and generate, the run was cancelled or its kernel went away.",
    ),
}


def ref(kind: str, name: str) -> Schema:
    """A reference to ``#/components/KIND/NAME``."""
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema: Schema) -> Schema:
    """An ``application/json`` content map."""
    return {"application/json": {"schema": schema}}


def refusals(*statuses: int) -> dict[str, Schema]:
    """The responses of these refusals, by status."""
    return {str(status): ref("responses", RESPONSES[status][0]) for status in statuses}


def ok(description: str, schema: Schema) -> dict[str, Schema]:
    """A 200 JSON response."""
    return {"200": {"description": description, "content": json_content(schema)}}


def event_stream(description: str, data: Schema, stream: bool = True) -> Schema:
    """A 200 answered as Server-Sent Events; ``data`` is the JSON schema of one event's data.

    As in OpenAPI 3.2 (and what tools read for 3.1), the media type's schema is one event:
    its fields (``id``, ``data``, ``retry``), with ``data`` a JSON text of ``data``'s schema.
    """
    event_id = "`RID:N`: the request's id and the event's position" if stream else "a version"
    response: Schema = {
        "description": description,
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "description": "One event. The stream opens with a `retry:` hint; `:` "
                    "comment heartbeats keep it alive while idle.",
                    "properties": {
                        "id": {"type": "string", "description": event_id},
                        "event": {"const": "message"},
                        "retry": {"type": "integer", "minimum": 0},
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "contentSchema": data,
                        },
                    },
                },
            }
        },
    }
    if stream:
        response["headers"] = {
            "X-Request-Id": ref("headers", "X-Request-Id"),
            "Location": ref("headers", "Location"),
        }
        rid = {"rid": "$response.header.X-Request-Id"}
        response["links"] = {
            "resume": {"operationId": "resume_stream", "parameters": rid},
            "cancel": {"operationId": "cancel_stream", "parameters": rid},
        }
    return response


def in_band_error() -> Schema:
    """The last event of a stream that failed after its 200."""
    return {
        "type": "object",
        "properties": {
            "error": {"type": "string", "description": "`Type: detail`, as Triton shows it"},
            "kind": ref("schemas", "InBandErrorKind"),
            "type": {"type": "string", "description": "the exception's type, else the kind's"},
        },
        "required": ["error", "kind"],  # and "type", always; a reader need not read it
    }


def _header(description: str, schema: Schema, required: bool = False) -> Schema:
    return {"description": description, "required": required, "schema": schema}


EVENT_ID = "^([0-9a-f]{32}:(-1|[0-9]{1,18}))?$"
"""``RID:N``, as the server sends them (``RID:-1``: before the first event); empty: none."""


def _last_event_id(name: str, where: str, what: str) -> Schema:
    return {
        "name": name,
        "in": where,
        "required": False,
        "description": f"Resume after {what} (`RID:N`, as sent); a reconnect never starts a "
        "new run. Empty: absent.",
        "schema": {"type": "string", "pattern": EVENT_ID},
    }


def components() -> Schema:
    """``components``: schemas, responses, headers, security schemes."""
    retry = _header("Seconds to wait before trying again.", {"type": "integer", "minimum": 0})
    responses: Schema = {}
    for status, (name, description) in RESPONSES.items():
        response: Schema = {
            "description": description,
            "content": json_content(ref("schemas", "Error")),
        }
        if status in (429, 503):
            response["headers"] = {"Retry-After": {**retry, "required": status == 429}}
        responses[name] = response
    return {
        "schemas": {"Error": ERROR, "InBandError": in_band_error(), **ERROR_KINDS, **LISTING},
        "responses": responses,
        "headers": {
            "X-Request-Id": _header(
                "The request's id: names the stream.", {"type": "string"}, True
            ),
            "Location": _header(
                "The stream resource (resume with GET, cancel with DELETE).",
                {"type": "string"},
                True,
            ),
        },
        "parameters": {
            "LastEventIdHeader": _last_event_id("Last-Event-ID", "header", "the event id"),
            "LastEventIdQuery": _last_event_id(
                "last_event_id", "query", "Last-Event-ID, for clients that cannot set headers:"
            ),
        },
        "securitySchemes": {
            "token": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "The Jupyter server's token: `Authorization: token TOKEN` "
                "(`Bearer TOKEN` works too).",
            },
            "bearer": {"type": "http", "scheme": "bearer", "description": "The server's token."},
            "tokenQuery": {
                "type": "apiKey",
                "in": "query",
                "name": "token",
                "description": "The server's token as a query argument (EventSource GETs).",
            },
        },
    }


SECURITY: list[dict[str, list[str]]] = [{"token": []}, {"bearer": []}, {"tokenQuery": []}]

EVENT: Schema = {
    "type": "object",
    "description": "One event: the dict the model sent. Every event of a stream has the keys "
    "and types of its first; they are known only once the model has run.",
}
SERVER_METADATA: Schema = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "extensions": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "version", "extensions"],
}
TENSOR_META: Schema = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["name", "datatype", "shape"],
}
MODEL_METADATA: Schema = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"},
        "inputs": {"type": "array", "items": TENSOR_META},
        "outputs": {"type": "array", "items": TENSOR_META},
        "parameters": {"type": "object", "properties": {"streaming": {"type": "boolean"}}},
    },
    "required": ["name", "versions", "platform", "inputs", "outputs"],
}
OUTPUT_TENSOR: Schema = {
    "type": "object",
    "properties": {
        **TENSOR_META["properties"],
        "datatype": {"enum": ["BOOL", "INT64", "FP64", "BYTES"]},
        "data": {"type": "array"},
        "parameters": {"type": "object", "properties": {"binary_data_size": {"type": "integer"}}},
    },
    "required": ["name", "datatype", "shape"],
}
