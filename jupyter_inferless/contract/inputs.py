"""Turn the request forms clients send into the ``inputs`` dict a model receives.

Three forms are accepted: v2 tensors (``{"inputs": [{"name", "shape", "datatype",
"data"}]}``), a JSON object of input values (flat, or under ``"parameters"``), and a query
string (the GET form of the stream). Each is validated against its JSON Schema
(``request_schema``: the one the OpenAPI document publishes), then read into ``{name:
value}`` where an input of shape [1] is a scalar, other shapes a list, and absent optional
inputs are absent. The rules JSON Schema cannot state are ``beyond_schema``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .beyond_schema import finite_numbers, json_carries, shape_holds_data
from .datatypes import BULK, family, parse_text
from .depth import DEFAULT_MAX_INPUT_DEPTH, check_depth
from .errors import InputError
from .input_messages import TENSORS_SHAPE, refusal
from .request_schema import (
    RESERVED_QUERY_KEYS,
    flat_body,
    parameters_body,
    query_object,
    tensors_body,
)
from .schema import InputSpec, ModelSchema
from .validator import first_error, validator

FORMS: dict[str, Callable[[ModelSchema], dict[str, Any]]] = {
    "flat": flat_body,
    "parameters": parameters_body,
    "tensors": tensors_body,
    "query": query_object,
}


def body_form(schema: ModelSchema, body: Mapping[str, Any]) -> str:
    """The one form of ``request_schema.request_body`` a body can fit, by its keys: its
    ``inputs`` (tensors), else its ``parameters``, else the flat object (unless the model
    declares an input of that name)."""
    if "inputs" in body and "inputs" not in schema.by_name:
        return "tensors"
    if "parameters" in body and "parameters" not in schema.by_name:
        return "parameters"
    return "flat"


def decode_body(
    schema: ModelSchema, body: Any, max_depth: int = DEFAULT_MAX_INPUT_DEPTH
) -> dict[str, Any]:
    """Decode any JSON request body into inputs; InputError names an input (or another
    part of the body) nested more than ``max_depth`` levels deep."""
    if not isinstance(body, Mapping):
        raise InputError(f"the request body must be a JSON object, not {_json_kind(body)}")
    form = body_form(schema, body)
    if form == "tensors":
        tensors = body["inputs"]
        if not isinstance(tensors, list):
            raise InputError(TENSORS_SHAPE)
        _check_tensors_depth(tensors, max_depth)
        for key, value in body.items():
            if key != "inputs":
                check_depth(value, max_depth, what=repr(key[:80]))
        validate(schema, form, body)
        return _from_tensors(schema, tensors)
    values = dict(body)
    parameters = values.pop("parameters") if form == "parameters" else {}
    for key, value in [*values.items(), *_items(parameters)]:
        check_depth(value, max_depth, key)
    validate(schema, form, body)
    if "id" not in schema.by_name:
        values.pop("id", None)
    if not schema.declared:
        for key in parameters:
            if key in values:
                raise InputError(f"input {key!r} is given twice, in and outside parameters", key)
    return _read(schema, {**values, **parameters})


def decode_values(schema: ModelSchema, values: Mapping[str, Any]) -> dict[str, Any]:
    """Decode a mapping of input name to JSON value (the flat form)."""
    validate(schema, "flat", values)
    return _read(schema, values)


def decode_tensors(schema: ModelSchema, tensors: list[Any]) -> dict[str, Any]:
    """Decode v2 tensors; labels may be loose (INT64 for INT32), values are checked."""
    validate(schema, "tensors", {"inputs": tensors})
    return _from_tensors(schema, tensors)


def decode_query(schema: ModelSchema, query: Mapping[str, list[str]]) -> dict[str, Any]:
    """Decode query arguments (GET form); ``token``, ``last_event_id`` and ``_xsrf`` are never
    inputs. Each text is read as its input's datatype (``parse_text``), then the values
    are validated as an object."""
    values = {key: texts for key, texts in query.items() if key not in RESERVED_QUERY_KEYS}
    if not schema.declared:
        return {key: texts[0] if len(texts) == 1 else texts for key, texts in values.items()}
    parsed: dict[str, Any] = {}
    for key, texts in values.items():
        spec = schema.by_name.get(key)
        if spec is None:
            parsed[key] = texts  # the validator refuses it, naming the model's inputs
            continue
        try:
            read = [parse_text(text, spec.datatype) for text in texts]
        except ValueError as err:
            raise InputError(f"input {spec.name!r}: {err}", spec.name) from None
        parsed[key] = read[0] if spec.is_scalar and len(read) == 1 else read
    validate(schema, "query", parsed)
    return _read(schema, parsed)


def validate(schema: ModelSchema, form: str, instance: Any) -> None:
    """Validate against the form's JSON Schema (built once per model schema); InputError
    naming the input and the rule."""
    checker = schema.validators.get(form)
    if checker is None:
        checker = schema.validators[form] = validator(FORMS[form](schema))
    error = first_error(checker, instance)
    if error is not None:
        raise refusal(error, schema, instance) from None


def _read(schema: ModelSchema, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validated values as the model gets them."""
    if not schema.declared:
        return {name: json_carries(name, value) for name, value in values.items()}
    return {
        spec.name: _value(spec, values[spec.name]) for spec in schema.inputs if spec.name in values
    }


def _from_tensors(schema: ModelSchema, tensors: list[Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for tensor in tensors:
        name = tensor["name"]
        spec = schema.by_name.get(name)
        if spec is None:  # a model with no INPUT_SCHEMA
            decoded[name] = json_carries(name, tensor.get("data"))
            continue
        data = tensor["data"]
        flat = _flatten(data) if isinstance(data, list) else [data]
        shape_holds_data(spec, tensor.get("shape"), len(flat))
        decoded[name] = _value(spec, flat)
    return decoded


def _value(spec: InputSpec, value: Any) -> Any:
    """A valid value as the model gets it: shape [1] a scalar, others a list; numbers as
    the datatype's (an integer for INT*, a float for FP*)."""
    kind = family(spec.datatype)
    items = value if isinstance(value, list) else [value]
    items = _numbers(items[:1] if spec.is_scalar else items, kind)
    if kind == "float":
        finite_numbers(spec, _flatten(items))
    elif kind == "string":
        json_carries(spec.name, items)
    return items[0] if spec.is_scalar else items


def _numbers(items: list[Any], kind: str) -> list[Any]:
    """``items`` (lists nested as a shape) with each number of the family's Python type."""
    if kind not in ("int", "float"):
        return items
    wanted = int if kind == "int" else float
    if items and isinstance(items[0], list):
        return [_numbers(item, kind) for item in items]
    slices = [items[start : start + BULK] for start in range(0, len(items), BULK)]
    if all(set(map(type, part)) <= {wanted} for part in slices):
        return items
    converted: list[Any] = []
    for part in slices:
        converted += map(wanted, part)
    return converted


def _flatten(items: list[Any]) -> list[Any]:
    """The leaves of nested lists, in order; ``items`` itself when it is flat. Iterative:
    no nesting exhausts the recursion limit."""
    if not _holds_lists(items):
        return items
    flat: list[Any] = []
    stack = [iter(items)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _holds_lists(items: list[Any]) -> bool:
    """Whether any item is a list, a slice of BULK items per call (a decode thread looking
    through a large tensor leaves the loop the GIL between two)."""
    return any(
        any(issubclass(kind, list) for kind in set(map(type, items[start : start + BULK])))
        for start in range(0, len(items), BULK)
    )


def _check_tensors_depth(tensors: list[Any], limit: int) -> None:
    """Every part of every tensor (its data above all) nests at most ``limit`` deep."""
    for index, tensor in enumerate(tensors):
        name = tensor.get("name") if isinstance(tensor, Mapping) else None
        named = name if isinstance(name, str) else None
        for part in tensor.values() if isinstance(tensor, Mapping) else [tensor]:
            check_depth(part, limit, named, "" if named else f"inputs[{index}]")


def _items(parameters: Any) -> list[tuple[str, Any]]:
    return list(parameters.items()) if isinstance(parameters, Mapping) else [("parameters", [])]


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}.get(
        type(value), "a number"
    )
