"""The model list's schemas: what ``GET inferless/api/models`` and its event stream send,
one served model with its inputs, device, counters, replicas and refused kernels.

They are named components (``ModelList``, ``ModelInfo``, ...), so the lab panel's
TypeScript types are generated from them. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from ...contract.datatypes import DATATYPES

Schema = dict[str, Any]
STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NOTEBOOK: Schema = {"type": ["string", "null"], "description": "The notebook using the kernel"}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(description: str, properties: Schema, *optional: str) -> Schema:
    """An object whose properties are all required but the ``optional`` ones."""
    required = [name for name in properties if name not in optional]
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
    }


COUNTS = ("requests", "events", "errors", "active", "queued")
SCHEMAS: dict[str, Schema] = {
    "ModelList": _object(
        "Every served model, in the order they were first served",
        {"models": {"type": "array", "items": _ref("ModelInfo")}},
    ),
    "ModelInfo": _object(
        "One served model: the first replica's description (its kernel_id, notebook), the "
        "counters summed, each replica and each kernel refused",
        {
            "name": STRING,
            "class": STRING,
            "source": {"type": "string", "description": "Where the model was served from"},
            "schema": _ref("ModelSchema"),
            "streaming": {"type": "boolean"},
            "device": _ref("Device"),
            "max_concurrency": INTEGER,
            "queue_size": INTEGER,
            "status": STRING,
            "notes": {"type": "array", "items": STRING},
            "kernel_id": STRING,
            "notebook": NOTEBOOK,
            "counters": _ref("Counters"),
            "replicas": {
                "type": "array",
                "items": _ref("Replica"),
                "description": "In the order they joined; requests go to the least loaded "
                "with room",
            },
            "refused": {"type": "array", "items": _ref("RefusedReplica")},
        },
    ),
    "ModelSchema": _object(
        "The model's INPUT_SCHEMA (declared false: none, any inputs are taken)",
        {
            "inputs": {"type": "array", "items": _ref("InputSpec")},
            "streaming": {"type": "boolean"},
            "declared": {"type": "boolean"},
        },
    ),
    "InputSpec": _object(
        "One input of the model's INPUT_SCHEMA",
        {
            "name": STRING,
            "datatype": {"enum": sorted(DATATYPES)},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": -1}},
            "required": {"type": "boolean"},
            "example": {"type": "array"},
        },
        "example",
    ),
    "Device": _object(
        "What the kernel computes on (device: cpu, cuda:0, ...)",
        {
            "device": STRING,
            "name": STRING,
            "torch": {"type": ["string", "null"]},
            "cuda": {"type": ["string", "null"]},
            "memory_gb": {"type": "number"},
        },
        "torch",
        "cuda",
        "memory_gb",
    ),
    "Counters": _object(
        "Requests, events and errors so far; active runs or waits, queued waits",
        {name: {"type": "integer", "minimum": 0} for name in COUNTS},
    ),
    "Replica": _object(
        "One kernel serving the model",
        {
            "kernel_id": STRING,
            "notebook": NOTEBOOK,
            "device": _ref("Device"),
            "max_concurrency": INTEGER,
            "queue_size": INTEGER,
            "counters": _ref("Counters"),
        },
        "device",
    ),
    "RefusedReplica": _object(
        "A kernel serving the name with another schema: it gets no requests",
        {"kernel_id": STRING, "notebook": NOTEBOOK, "reason": STRING},
    ),
}
"""The model list's named schemas, for ``components.schemas``."""
