"""A model's request schemas in the document: the JSON Schemas the server validates
requests against (``contract.request_schema``), and the GET form's query parameters
made from the same schema of each input. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from ...contract import ModelSchema
from ...contract.request_schema import (
    RESERVED_QUERY_KEYS,
    example,
    query_value,
    request_body,
    tensors_body,
)

Schema = dict[str, Any]


def model_schemas(name: str, schema: ModelSchema) -> dict[str, Schema]:
    """The model's request bodies, which its plain and versioned paths share."""
    return {f"inputs.{name}": request_body(schema), f"tensors.{name}": tensors_body(schema)}


def query_parameters(schema: ModelSchema) -> list[Schema]:
    """The GET form's query: one parameter per input (a list input repeats its key), each
    the schema of ``query_value``, which the server validates the query's values with."""
    parameters = []
    for spec in schema.inputs:
        if spec.name in RESERVED_QUERY_KEYS:
            continue
        value = query_value(spec)
        parameter: Schema = {"name": spec.name, "in": "query", "required": spec.required}
        parameter["schema"] = value
        if not spec.is_scalar:
            parameter.update(style="form", explode=True)
        if example(spec) is not None:
            parameter["example"] = example(spec)
        parameter["description"] = f"input {spec.name}: {spec.datatype} {list(spec.shape)}"
        parameters.append(parameter)
    return parameters
