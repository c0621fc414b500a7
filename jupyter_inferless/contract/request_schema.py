"""A model's INPUT_SCHEMA as JSON Schema (2020-12): the one definition of a valid request.

The server validates each request against these schemas (``validator.py``), and the
OpenAPI document publishes the same ones. The forms: a JSON object of input values
(``flat_body``), the same under ``"parameters"`` (Triton generate's form, where inputs may
also stand beside ``parameters``), KServe v2 tensors (``tensors_body``), and the GET form's
query as an object (``query_object``, published one parameter per input). What JSON Schema
cannot state is left to two named checks of ``inputs.py``: a tensor's shape multiplied out
against its number of values, and strings being Unicode text. Pure: no I/O.
"""

from __future__ import annotations

import math
from typing import Any

from .datatypes import DATATYPES, labels_compatible, value_schema
from .schema import InputSpec, ModelSchema

Schema = dict[str, Any]
RESERVED_QUERY_KEYS = frozenset({"token", "last_event_id", "_xsrf"})
"""Query arguments that are never inputs: the token, the resume id, the XSRF value."""
ID: Schema = {"description": "a request id; ignored (v2 infer echoes a string id)"}
SHAPE_RULE = "its sizes multiply to the number of values in data"
NOTHING: Schema = {"not": {}}  # (``false``, whose error would show the whole value)


def data_schema(spec: InputSpec) -> Schema:
    """An input's value, in a body or as a tensor's ``data``: shape [1] takes a value or a
    list of one; [-1] a value or a list; any other shape a flat list of as many values as
    it holds, or (two dimensions and more) lists nested as the shape."""
    value = value_schema(spec.datatype)
    if spec.is_scalar:
        return {"anyOf": [value, _array(value, 1)]}
    count = None if -1 in spec.shape else math.prod(spec.shape)
    forms = [_array(value, count)]
    if len(spec.shape) > 1:
        forms.append(_nested(spec.shape, value))
    if spec.shape == (-1,):
        forms.insert(0, value)
    return forms[0] if len(forms) == 1 else {"anyOf": forms}


def input_schema(spec: InputSpec) -> Schema:
    """``data_schema`` described for the document: datatype, shape, an example."""
    described = {**data_schema(spec), "description": f"{spec.datatype} {list(spec.shape)}"}
    if example(spec) is not None:
        described["examples"] = [example(spec)]
    return described


def example(spec: InputSpec) -> Any:
    """The input's example as a request sends it (its one value for shape [1]); None
    without one, or when it has not as many values as the shape holds."""
    if not spec.example:
        return None
    if spec.is_scalar:
        return spec.example[0]
    fits = -1 in spec.shape or len(spec.example) == math.prod(spec.shape)
    return spec.example if fits else None


def flat_body(schema: ModelSchema) -> Schema:
    """``{"prompt": "hi", "n": 3}``: the inputs as a JSON object."""
    extra = {} if "id" in schema.by_name else {"id": ID}
    if not schema.declared:  # any names but those of the other forms
        extra |= {"inputs": NOTHING, "parameters": NOTHING}
    return {"title": "inputs as a JSON object", **_values(schema, extra, required=True)}


def parameters_body(schema: ModelSchema) -> Schema:
    """``{"parameters": {...}}``: Triton generate's form; an input may also stand beside
    ``parameters``, once."""
    beside = {"parameters": _values(schema, {}, required=False)}
    beside |= {} if "id" in schema.by_name else {"id": ID}
    beside |= {} if schema.declared else {"inputs": NOTHING}
    described = {**_values(schema, beside, required=False), "required": ["parameters"]}
    either = [
        {"anyOf": [{"required": [spec.name]}, _inside(spec.name)]}
        for spec in schema.inputs
        if spec.required
    ]
    if either:
        described["allOf"] = either
    if schema.inputs:
        described["dependentSchemas"] = {
            spec.name: {"properties": {"parameters": {"not": {"required": [spec.name]}}}}
            for spec in schema.inputs
        }
    return {"title": "inputs under parameters (Triton generate)", **described}


def tensor_schema(spec: InputSpec) -> Schema:
    """One v2 input tensor; ``data`` as ``data_schema``, a loose datatype label."""
    labels = sorted(label for label in DATATYPES if labels_compatible(label, spec.datatype))
    shape: Schema
    if spec.is_scalar:
        shape = {"type": "array", "items": {"const": 1}}
    elif -1 in spec.shape:
        shape = {"type": "array", "items": {"type": "integer", "minimum": 0}}
    else:
        count = math.prod(spec.shape)
        shape = {"enum": [list(spec.shape)] + ([[count]] if len(spec.shape) > 1 else [])}
    return {
        "title": f"input {spec.name}",
        "type": "object",
        "properties": {
            "name": {"const": spec.name},
            "datatype": {"enum": labels, "description": f"declared {spec.datatype}"},
            "shape": {**shape, "description": SHAPE_RULE},
            "data": input_schema(spec),
            "parameters": {
                "type": "object",
                "description": "binary_data_size: the tensor's bytes follow the JSON header "
                "(binary tensor extension; needs Inference-Header-Content-Length)",
            },
        },
        "required": ["name", "data"],
    }


def tensors_body(schema: ModelSchema) -> Schema:
    """``{"inputs": [...]}``: KServe v2 tensors, each input once, the required ones present;
    ``outputs`` and ``parameters.binary_data_output`` are what infer answers with."""
    return {
        "title": "KServe v2 tensors",
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "inputs": _tensors(schema),
            "outputs": {
                "type": "array",
                "description": "the outputs wanted (infer), by name, each at most once",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "parameters": {
                            "type": "object",
                            "properties": {"binary_data": {"type": "boolean"}},
                        },
                    },
                    "required": ["name"],
                },
            },
            "parameters": {
                "type": "object",
                "properties": {"binary_data_output": {"type": "boolean"}},
            },
        },
        "required": ["inputs"],
    }


def request_body(schema: ModelSchema) -> Schema:
    """The JSON body ``generate`` and ``generate_stream`` take: any of the forms. Exactly
    one can fit a body (``inputs.body_form`` picks it by its keys)."""
    forms = [flat_body(schema)]
    if "parameters" not in schema.by_name:
        forms.append(parameters_body(schema))
    if "inputs" not in schema.by_name:
        forms.append(tensors_body(schema))
    return {"anyOf": forms}


def query_value(spec: InputSpec) -> Schema:
    """An input in the GET form's query: one value for shape [1], else a list (its key
    repeated) of as many values as the shape holds."""
    value = value_schema(spec.datatype)
    if spec.is_scalar:
        return value
    count = None if -1 in spec.shape else math.prod(spec.shape)
    return {**_array(value, count), "minItems": count or 1}


def query_object(schema: ModelSchema) -> Schema:
    """The GET form's query as an object of parsed values (the document lists it as one
    query parameter per input, ``query_value``); no other key."""
    return _values(schema, {}, required=True, value=query_value)


def _values(
    schema: ModelSchema, extra: Schema, *, required: bool, value: Any = input_schema
) -> Schema:
    """An object of the declared inputs (``additionalProperties`` false once declared)."""
    if not schema.declared:
        return {"type": "object", "properties": dict(extra)}
    described: Schema = {
        "type": "object",
        "properties": {spec.name: value(spec) for spec in schema.inputs} | extra,
        "additionalProperties": False,
    }
    if required:
        described["required"] = [spec.name for spec in schema.inputs if spec.required]
    return described


def _inside(name: str) -> Schema:
    return {"properties": {"parameters": {"required": [name]}}}


def _tensors(schema: ModelSchema) -> Schema:
    if not schema.declared:
        named = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
        return {"type": "array", "items": named}
    tensors = [tensor_schema(spec) for spec in schema.inputs]
    described: Schema = {"type": "array", "description": "each input at most once"}
    described["items"] = tensors[0] if len(tensors) == 1 else {"anyOf": tensors}
    if not tensors:
        described["maxItems"] = 0
    once = [
        {
            "contains": {"type": "object", "properties": {"name": {"const": spec.name}}},
            "minContains": int(spec.required),
            "maxContains": 1,
        }
        for spec in schema.inputs
    ]
    if once:
        described["allOf"] = once
    return described


def _array(value: Schema, count: int | None) -> Schema:
    described: Schema = {"type": "array", "items": value}
    if count is not None:
        described["minItems"] = described["maxItems"] = count
    return described


def _nested(shape: tuple[int, ...], value: Schema) -> Schema:
    described = value
    for size in reversed(shape):
        described = _array(described, None if size == -1 else size)
    return described
