"""A request's schema error (``validator.first_error``) told as a refusal that names the
input and the rule: ``input 'n' (INT32): 2147483648 is out of range for INT32 (...)``.

The error says where (its path in the body) and which keyword failed; the input's
declaration says what was wanted. Nothing here decides whether a request is valid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .datatypes import describe, value_phrase
from .errors import InputError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

    from .schema import InputSpec, ModelSchema

TENSORS_SHAPE = '"inputs" must be a list of tensors {"name", "shape", "datatype", "data"}'
KINDS = {
    "object": "a JSON object",
    "array": "a list",
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
}


def refusal(error: ValidationError, schema: ModelSchema, body: Any) -> InputError:
    """The InputError that tells ``error`` (found in ``body``) to the client."""
    path = list(error.absolute_path)
    name, rest = _input_at(path, body)
    spec = schema.by_name.get(name) if name is not None else None
    keyword = str(error.validator)
    if keyword == "additionalProperties":
        allowed = error.schema.get("properties", {})
        unknown = next(key for key in error.instance if key not in allowed)
        return InputError(unknown_input(schema, unknown), unknown)
    if keyword == "required" and (spec is None or not rest):
        return _missing(error, schema, path)
    if keyword in ("contains", "maxContains", "not"):
        return _once(error, schema)
    if path[:1] == ["inputs"] and len(path) <= 2:
        return _tensor_problem(error, schema, path)
    if spec is None:
        return InputError(_structure(error, path), name)
    if path[:1] == ["inputs"] and rest[:1] != ["data"]:
        return _tensor_part(error, spec, body["inputs"][path[1]], rest[0])
    inside = rest[1:] if path[:1] == ["inputs"] else rest  # past a tensor's "data"
    return InputError(_value_problem(error, spec, inside), spec.name)


def unknown_input(schema: ModelSchema, name: str) -> str:
    """The refusal of an input the model does not declare."""
    known = ", ".join(repr(spec.name) for spec in schema.inputs) or "none"
    return f"unknown input {name[:80]!r}; the model's inputs are: {known}"


def _input_at(path: list[Any], body: Any) -> tuple[str | None, list[Any]]:
    """The input a path is in (by name, or a tensor's index), and the path inside it."""
    if path[:1] == ["inputs"] and len(path) >= 2 and isinstance(body, Mapping):
        tensor = body["inputs"][path[1]]
        name = tensor.get("name") if isinstance(tensor, Mapping) else None
        return (name if isinstance(name, str) else None), path[2:]
    if path[:1] == ["parameters"] and len(path) >= 2:
        path = path[1:]
    if path and isinstance(path[0], str):
        return path[0], path[1:]
    return None, path


def _missing(error: ValidationError, schema: ModelSchema, path: list[Any]) -> InputError:
    absent = next(key for key in error.validator_value if key not in error.instance)
    if path[:1] == ["inputs"] and absent == "data":
        name = error.instance["name"]
        return InputError(f'input {name!r}: the tensor has no "data"', name)
    if path[:1] == ["inputs"]:
        return InputError(f'inputs[{path[1]}] has no string "name"')
    spec = schema.by_name.get(absent)
    if spec is None:
        return InputError(f"{_where(path)}: {absent!r} is missing")
    return InputError(f"missing required input {absent!r} ({spec.datatype})", absent)


def _once(error: ValidationError, schema: ModelSchema) -> InputError:
    """Each input at most once (and the required ones) among tensors; not in and outside
    ``parameters``."""
    if error.validator == "not":
        name = error.validator_value["required"][0]
        return InputError(f"input {name!r} is given twice, in and outside parameters", name)
    name = error.schema["contains"]["properties"]["name"]["const"]
    if error.validator == "maxContains":
        return InputError(f"input {name!r} is given twice", name)
    datatype = schema.by_name[name].datatype
    return InputError(f"missing required input {name!r} ({datatype})", name)


def _tensor_problem(error: ValidationError, schema: ModelSchema, path: list[Any]) -> InputError:
    """``inputs`` not a list, a tensor not an object, without a known name."""
    index, tensor = (path[1], error.instance) if len(path) > 1 else (0, None)
    if len(path) == 1 and error.validator == "maxItems":  # the model declares no input
        tensor = error.instance[0]
    elif len(path) == 1:
        return InputError(TENSORS_SHAPE)
    if not isinstance(tensor, Mapping):
        return InputError(f"inputs[{index}] must be an object with name, shape, datatype, data")
    name = tensor.get("name")
    if not isinstance(name, str):
        return InputError(f'inputs[{index}] has no string "name"')
    return InputError(unknown_input(schema, name), name)


def _tensor_part(
    error: ValidationError, spec: InputSpec, tensor: Mapping[str, Any], part: Any
) -> InputError:
    name, value = spec.name, tensor.get(part)
    if part == "datatype":
        told = f"datatype {value!r} does not fit the declared {spec.datatype}"
    elif part != "shape":
        told = f"{_where([part])} must be {_kind(error)}"
    elif not isinstance(value, list) or not all(type(d) is int and d >= 0 for d in value):
        told = f"shape must be a list of sizes, not {value!r}"
    else:
        data = tensor.get("data")
        count = _leaves(data)
        told = f"shape {value} does not fit the declared {list(spec.shape)}"
        if math.prod(value) != count:
            told = f"shape {value} holds {math.prod(value)} values, data has {count}"
    return InputError(f"input {name!r}: {told}", name)


def _value_problem(error: ValidationError, spec: InputSpec, path: list[Any]) -> str:
    """What is wrong with an input's value, or with a value inside it (at ``path``)."""
    value, keyword = error.instance, str(error.validator)
    shape, name = list(spec.shape), spec.name
    count = None if -1 in spec.shape else math.prod(spec.shape)
    listed = isinstance(value, list)
    if spec.is_scalar and not path and listed and len(value) != 1:
        return f"input {name!r}: shape [1] takes one value, got a list of {len(value)}"
    if not path and keyword in ("minItems", "maxItems") and error.validator_value == count:
        return f"input {name!r}: shape {shape} takes {count} values, got {len(value)}"
    wants_list = keyword == "type" and error.validator_value == "array"
    bare = not path and not listed and not spec.is_scalar
    if bare and count is not None and (wants_list or keyword == "anyOf"):
        return f"input {name!r}: shape {shape} takes {count} values, got one"
    if wants_list or keyword in ("minItems", "maxItems"):
        where = f"[{']['.join(map(str, path))}]" if path else "the top level"
        return (
            f"input {name!r}: shape {shape} takes lists nested as the shape, "
            f"not {describe(value) if not listed else f'{len(value)} items'} at {where}"
        )
    if keyword in ("type", "minimum", "maximum", "anyOf"):
        return _typed(spec, value_phrase(keyword, value, spec.datatype))
    return _typed(spec, error.message)


def _typed(spec: InputSpec, problem: str) -> str:
    return f"input {spec.name!r} ({spec.datatype}): {problem}"


def _structure(error: ValidationError, path: list[Any]) -> str:
    """An error outside the inputs' values: ``"parameters" must be a JSON object``."""
    if error.validator == "type":
        return f"{_where(path)!s} must be {_kind(error)}, not {describe(error.instance)}"
    return f"{_where(path)}: {error.message}"


def _kind(error: ValidationError) -> str:
    wanted = error.validator_value if error.validator == "type" else ""
    return KINDS.get(str(wanted), error.message)


def _leaves(data: Any) -> int:
    """How many values ``data`` holds, lists nested or not; without recursion."""
    count, stack = 0, [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        else:
            count += 1
    return count


def _where(path: Sequence[Any]) -> str:
    """A path in the body as the client wrote it: ``inputs[0].shape``, ``"parameters"``."""
    told = ""
    for step in path:
        told += f"[{step}]" if isinstance(step, int) else (f".{step}" if told else f'"{step}"')
    return told or "the body"
