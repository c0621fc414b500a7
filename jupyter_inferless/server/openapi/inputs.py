"""A model's INPUT_SCHEMA as JSON Schema: the request bodies and query the validator accepts.

The forms are those of ``contract.inputs``: a flat JSON object of input values, the same
under ``"parameters"``, v2 tensors (``{"inputs": [...]}``), and the GET form's query. Each
schema describes only what the validator accepts (sometimes less: nested lists, mixed flat
and ``parameters`` keys), so a body valid here passes validation. Pure: no I/O.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from ...contract.datatypes import DATATYPES, FLOAT_LIMITS, INT_RANGES, family, labels_compatible
from ...contract.inputs import RESERVED_QUERY_KEYS
from ...contract.schema import InputSpec, ModelSchema

Schema = dict[str, Any]

ANY_OBJECT: Schema = {"type": "object"}


def value_schema(datatype: str) -> Schema:
    """One element of a datatype: integer ranges, finite numbers, booleans, strings."""
    kind = family(datatype)
    if kind == "int":
        low, high = INT_RANGES[datatype]
        return {"type": "integer", "minimum": low, "maximum": high}
    if kind == "float":
        limit = FLOAT_LIMITS[datatype]
        limit = sys.float_info.max if math.isinf(limit) else limit
        return {"type": "number", "minimum": -limit, "maximum": limit}
    if kind == "string":
        return {"type": "string"}
    return {"type": "boolean"}


def input_schema(spec: InputSpec) -> Schema:
    """An input's value in a JSON body: shape [1] takes a value (or a one-value list)."""
    value = value_schema(spec.datatype)
    described: Schema
    if spec.is_scalar:
        one = {"type": "array", "items": value, "minItems": 1, "maxItems": 1}
        described = {"anyOf": [value, one]}
        if spec.example:
            described["examples"] = [spec.example[0]]
    elif -1 in spec.shape:
        described = {"anyOf": [value, {"type": "array", "items": value}]}
    else:
        count = math.prod(spec.shape)
        described = {"type": "array", "items": value, "minItems": count, "maxItems": count}
    if not spec.is_scalar and _fits(spec, spec.example):
        described["examples"] = [spec.example]
    described["description"] = f"{spec.datatype} {list(spec.shape)}" + (
        ", required" if spec.required else ""
    )
    return described


def _values_object(schema: ModelSchema, extra: Schema) -> Schema:
    properties = {spec.name: input_schema(spec) for spec in schema.inputs}
    return {
        "type": "object",
        "properties": {**properties, **extra},
        "required": [spec.name for spec in schema.inputs if spec.required],
        "additionalProperties": False,
    }


def _id_property(schema: ModelSchema) -> Schema:
    if "id" in schema.by_name:
        return {}
    return {"id": {"description": "a request id; ignored (v2 infer echoes a string id)"}}


def flat_body(schema: ModelSchema) -> Schema:
    """``{"prompt": "hi", "n": 3}``: the inputs as a JSON object."""
    described = _values_object(schema, _id_property(schema))
    described["title"] = "inputs as a JSON object"
    return described


def parameters_body(schema: ModelSchema) -> Schema:
    """``{"parameters": {...}}``: Triton generate's form."""
    return {
        "title": "inputs under parameters (Triton generate)",
        "type": "object",
        "properties": {"parameters": _values_object(schema, {}), **_id_property(schema)},
        "required": ["parameters"],
        "additionalProperties": False,
    }


def tensor_schema(spec: InputSpec) -> Schema:
    """One v2 input tensor; the values of ``data`` must fit the declared datatype."""
    value = value_schema(spec.datatype)
    labels = sorted(label for label in DATATYPES if labels_compatible(label, spec.datatype))
    if spec.is_scalar:
        data: Schema = {
            "anyOf": [value, {"type": "array", "items": value, "minItems": 1, "maxItems": 1}]
        }
        shape: Schema = {"type": "array", "items": {"const": 1}}
    elif -1 in spec.shape:
        data = {"type": "array", "items": value}
        shape = {"type": "array", "items": {"type": "integer", "minimum": 0}}
    else:
        count = math.prod(spec.shape)
        data = {"type": "array", "items": value, "minItems": count, "maxItems": count}
        shape = {"enum": [list(spec.shape)] + ([[count]] if len(spec.shape) > 1 else [])}
    shape["description"] = "its sizes multiply to the number of values in data"
    return {
        "title": f"input {spec.name}",
        "type": "object",
        "properties": {
            "name": {"const": spec.name},
            "datatype": {"enum": labels, "description": f"declared {spec.datatype}"},
            "shape": shape,
            "data": data,
            "parameters": {
                "type": "object",
                "description": "binary_data_size: the tensor's bytes follow the JSON header "
                "(binary tensor extension; needs Inference-Header-Content-Length)",
            },
        },
        "required": ["name", "data"],
    }


def tensors_property(schema: ModelSchema) -> Schema:
    """``inputs``: a list of v2 tensors, each input at most once, the required ones present."""
    if not schema.declared:
        named = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
        return {"type": "array", "items": named}
    tensors: Schema = {
        "type": "array",
        "items": {"anyOf": [tensor_schema(spec) for spec in schema.inputs]},
        "description": "each input at most once",
    }
    if not schema.inputs:
        tensors["maxItems"] = 0
    required = [
        {"contains": {"type": "object", "properties": {"name": {"const": spec.name}}}}
        for spec in schema.inputs
        if spec.required
    ]
    if required:
        tensors["allOf"] = required
    return tensors


def tensors_body(schema: ModelSchema, infer: bool = False) -> Schema:
    """``{"inputs": [...]}``: KServe v2 tensors (with ``outputs`` and ``parameters`` for infer)."""
    properties: Schema = {"id": {"type": "string"}, "inputs": tensors_property(schema)}
    if infer:
        properties["outputs"] = {
            "type": "array",
            "description": "the outputs wanted, by name, each at most once",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
                "required": ["name"],
            },
        }
        properties["parameters"] = {
            "type": "object",
            "properties": {"binary_data_output": {"type": "boolean"}},
        }
    return {
        "title": "KServe v2 tensors",
        "type": "object",
        "properties": properties,
        "required": ["inputs"],
    }


def request_body(schema: ModelSchema) -> Schema:
    """The JSON body ``generate`` and ``generate_stream`` accept: any of the three forms."""
    if not schema.declared:
        return {**ANY_OBJECT, "description": "the model declares no INPUT_SCHEMA: any object"}
    forms = [flat_body(schema)]
    if "parameters" not in schema.by_name:
        forms.append(parameters_body(schema))
    if "inputs" not in schema.by_name:
        forms.append(tensors_body(schema))
    return {"anyOf": forms}


def query_parameters(schema: ModelSchema) -> list[Schema]:
    """The GET form's query: one parameter per input (a list input repeats its key)."""
    parameters = []
    for spec in schema.inputs:
        if spec.name in RESERVED_QUERY_KEYS:
            continue
        value = value_schema(spec.datatype)
        parameter: Schema = {"name": spec.name, "in": "query", "required": spec.required}
        if spec.is_scalar:
            parameter["schema"] = value
            if spec.example:
                parameter["example"] = spec.example[0]
        else:
            parameter.update(style="form", explode=True, schema=_list_query(spec, value))
            if _fits(spec, spec.example):
                parameter["example"] = spec.example
        parameter["description"] = f"input {spec.name}: {spec.datatype} {list(spec.shape)}"
        parameters.append(parameter)
    return parameters


def _list_query(spec: InputSpec, value: Schema) -> Schema:
    listed: Schema = {"type": "array", "items": value, "minItems": 1}
    if -1 not in spec.shape:
        listed["minItems"] = listed["maxItems"] = math.prod(spec.shape)
    return listed


def _fits(spec: InputSpec, example: list[Any] | None) -> bool:
    """Whether a list input's example has as many values as its shape takes."""
    if not example:
        return False
    return -1 in spec.shape or len(example) == math.prod(spec.shape)
