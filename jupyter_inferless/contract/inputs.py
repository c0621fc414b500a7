"""Turn the request forms clients send into the ``inputs`` dict a model receives.

Three forms are accepted: v2 tensors (``{"inputs": [{"name", "shape", "datatype",
"data"}]}``), a JSON object of input values (flat, or under ``"parameters"``), and
a query string (the GET form of the stream). Each gives ``{name: value}`` where an
input of shape [1] is a scalar, other shapes a list, and absent optional inputs are
absent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .datatypes import BULK, check_value, check_values, json_problem, labels_compatible, parse_text
from .depth import DEFAULT_MAX_INPUT_DEPTH, check_depth
from .errors import InputError
from .schema import InputSpec, ModelSchema

RESERVED_QUERY_KEYS = frozenset({"token", "last_event_id", "_xsrf"})


def decode_body(
    schema: ModelSchema, body: Any, max_depth: int = DEFAULT_MAX_INPUT_DEPTH
) -> dict[str, Any]:
    """Decode any JSON request body into inputs; InputError names an input (or another
    part of the body) nested more than ``max_depth`` levels deep."""
    if not isinstance(body, Mapping):
        raise InputError(f"the request body must be a JSON object, not {_json_kind(body)}")
    if "inputs" in body and "inputs" not in schema.by_name:
        tensors = body["inputs"]
        if not isinstance(tensors, list):
            raise InputError(
                '"inputs" must be a list of tensors {"name", "shape", "datatype", "data"}'
            )
        _check_tensors_depth(tensors, max_depth)
        for key, value in body.items():
            if key != "inputs":
                check_depth(value, max_depth, what=repr(key[:80]))
        return decode_tensors(schema, tensors)
    values = dict(body)
    if "parameters" not in schema.by_name and "parameters" in values:
        parameters = values.pop("parameters")
        if not isinstance(parameters, Mapping):
            raise InputError(f'"parameters" must be a JSON object, not {_json_kind(parameters)}')
        for key in parameters:
            if key in values:
                raise InputError(f"input {key!r} is given twice, in and outside parameters", key)
        values.update(parameters)
    if "id" not in schema.by_name:
        values.pop("id", None)
    for key, value in values.items():
        check_depth(value, max_depth, key)
    return decode_values(schema, values)


def decode_values(schema: ModelSchema, values: Mapping[str, Any]) -> dict[str, Any]:
    """Decode a mapping of input name to JSON value."""
    if not schema.declared:
        return {name: _plain(name, value) for name, value in values.items()}
    _reject_unknown(schema, values)
    decoded = {}
    for spec in schema.inputs:
        if spec.name in values:
            decoded[spec.name] = _decode_value(spec, values[spec.name])
    _require(schema, decoded)
    return decoded


def decode_tensors(schema: ModelSchema, tensors: list[Any]) -> dict[str, Any]:
    """Decode v2 tensors; labels may be loose (INT64 for INT32), values are checked."""
    decoded: dict[str, Any] = {}
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, Mapping):
            raise InputError(f"inputs[{index}] must be an object with name, shape, datatype, data")
        name = tensor.get("name")
        if not isinstance(name, str):
            raise InputError(f'inputs[{index}] has no string "name"')
        spec = schema.by_name.get(name)
        if spec is None and not schema.declared:
            decoded[name] = _plain(name, tensor.get("data"))
            continue
        if spec is None:
            raise InputError(_unknown_message(schema, name), name)
        if name in decoded:
            raise InputError(f"input {name!r} is given twice", name)
        decoded[name] = _decode_tensor(spec, tensor)
    _require(schema, decoded)
    return decoded


def decode_query(schema: ModelSchema, query: Mapping[str, list[str]]) -> dict[str, Any]:
    """Decode query arguments (GET form); ``token``, ``last_event_id`` and ``_xsrf`` are never
    inputs."""
    values = {key: texts for key, texts in query.items() if key not in RESERVED_QUERY_KEYS}
    if not schema.declared:
        return {key: texts[0] if len(texts) == 1 else texts for key, texts in values.items()}
    _reject_unknown(schema, values)
    decoded: dict[str, Any] = {}
    for spec in schema.inputs:
        texts = values.get(spec.name)
        if texts is None:
            continue
        try:
            parsed = [parse_text(text, spec.datatype) for text in texts]
        except ValueError as err:
            raise InputError(f"input {spec.name!r}: {err}", spec.name) from None
        decoded[spec.name] = _decode_value(spec, parsed[0] if len(parsed) == 1 else parsed)
    _require(schema, decoded)
    return decoded


def _decode_tensor(spec: InputSpec, tensor: Mapping[str, Any]) -> Any:
    name = spec.name
    label = tensor.get("datatype", spec.datatype)
    if not isinstance(label, str) or not labels_compatible(label.upper(), spec.datatype):
        raise InputError(
            f"input {name!r}: datatype {label!r} does not fit the declared {spec.datatype}", name
        )
    if "data" not in tensor:
        raise InputError(f'input {name!r}: the tensor has no "data"', name)
    data = tensor["data"]
    flat = _flatten(data) if isinstance(data, list) else [data]
    shape = tensor.get("shape")
    if shape is not None:
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise InputError(f"input {name!r}: shape must be a list of sizes, not {shape!r}", name)
        if math.prod(shape) != len(flat):
            raise InputError(
                f"input {name!r}: shape {shape} holds {math.prod(shape)} values, "
                f"data has {len(flat)}",
                name,
            )
    return _decode_value(spec, flat[0] if spec.is_scalar and len(flat) == 1 else flat)


def _decode_value(spec: InputSpec, value: Any) -> Any:
    name = spec.name
    if spec.is_scalar:
        if isinstance(value, list):
            if len(value) != 1:
                raise InputError(
                    f"input {name!r}: shape [1] takes one value, got a list of {len(value)}", name
                )
            value = value[0]
        return _check(spec, value)
    items = value if isinstance(value, list) else [value]
    flat = _flatten(items)
    _check_length(spec, len(flat))
    try:
        checked = check_values(flat, spec.datatype)
    except ValueError as err:
        raise InputError(f"input {spec.name!r} ({spec.datatype}): {err}", spec.name) from None
    return checked if items is flat else items


def _plain(name: str, value: Any) -> Any:
    """The value of an input no schema declares, as it is, once JSON can carry it (and
    its name) to the kernel unchanged."""
    problem = json_problem([name, value])
    if problem is not None:
        raise InputError(f"input {name[:80]!r}: {problem}", name)
    return value


def _check(spec: InputSpec, value: Any) -> Any:
    try:
        return check_value(value, spec.datatype)
    except ValueError as err:
        raise InputError(f"input {spec.name!r} ({spec.datatype}): {err}", spec.name) from None


def _check_length(spec: InputSpec, count: int) -> None:
    if -1 in spec.shape:
        return
    expected = math.prod(spec.shape)
    if count != expected:
        raise InputError(
            f"input {spec.name!r}: shape {list(spec.shape)} takes {expected} values, got {count}",
            spec.name,
        )


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


def _reject_unknown(schema: ModelSchema, values: Mapping[str, Any]) -> None:
    for key in values:
        if key not in schema.by_name:
            raise InputError(_unknown_message(schema, key), key)


def _require(schema: ModelSchema, decoded: Mapping[str, Any]) -> None:
    for spec in schema.inputs:
        if spec.required and spec.name not in decoded:
            raise InputError(f"missing required input {spec.name!r} ({spec.datatype})", spec.name)


def _unknown_message(schema: ModelSchema, name: str) -> str:
    known = ", ".join(repr(spec.name) for spec in schema.inputs) or "none"
    return f"unknown input {name[:80]!r}; the model's inputs are: {known}"


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}.get(
        type(value), "a number"
    )
