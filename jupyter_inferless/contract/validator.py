"""Requests validated against the JSON Schemas of ``request_schema``, the ones the OpenAPI
document publishes: ``jsonschema``'s Draft 2020-12 validator, made once per model schema
and request form (``inputs.validate``).

A few keywords run differently, none decides differently (``test_bulk_checks`` and
``test_request_schema`` hold them to the stock validator):

- ``items`` whose schema is a plain value (a type, a minimum, a maximum) checks a long
  list a slice at a time by builtins, and only a slice with a value that breaks the rule
  goes value by value, up to that value. A tensor of millions of numbers is checked in
  milliseconds, and a decode thread leaves the server's loop the GIL between two slices;
- ``anyOf`` rules a branch out at its first error, ``contains`` of a tensor's name counts
  names, and no error message shows the instance (the stock ones repr it: a list of
  millions of values, or one nested thousands deep).

``first_error`` picks the error a refusal names: an unknown input first, then what is
wrong with an input, then a missing one, the outermost first; inside an ``anyOf``, the
branch of the instance's own kind (a value, a flat list, lists nested, the tensor of its
name), so that the message speaks of what the client meant to send.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

Schema = dict[str, Any]
BULK = 16 * 1024  # values checked by one call
PLAIN_KEYS = frozenset({"type", "minimum", "maximum", "description"})
PLAIN_TYPES: dict[str, set[type]] = {
    "integer": {int},
    "number": {int, float},
    "string": {str},
    "boolean": {bool},
}
LAST = {"additionalProperties": 0, "required": 2, "contains": 2}  # others: 1


def validator(schema: Schema) -> Validator:
    """A validator of ``schema`` (Draft 2020-12, with the bulk ``items``)."""
    return _validator_class()(schema)


def first_error(validator: Validator, instance: Any) -> ValidationError | None:
    """The error a refusal of ``instance`` names; None when it is valid."""
    errors = list(validator.iter_errors(instance))
    if not errors:
        return None
    return _innermost(min(errors, key=_order))


def plain_keyword_broken(schema: Schema, value: Any) -> str | None:
    """The keyword of a plain value schema (``request_schema.value_schema``) that ``value``
    breaks, as the validator decides it (an integral float is an integer, a boolean is no
    number); None when it fits. For the kernel, which checks INPUT_SCHEMA examples
    without importing jsonschema."""
    kind = schema.get("type", "")
    fits = type(value) in PLAIN_TYPES[kind]
    if kind == "integer" and type(value) is float:
        fits = value.is_integer()
    if not fits:
        return "type"
    if "minimum" in schema and value < schema["minimum"]:
        return "minimum"
    if "maximum" in schema and value > schema["maximum"]:
        return "maximum"
    return None


@functools.cache
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, validators

    terse = {keyword: _terse(keyword) for keyword in TERSE}
    return validators.extend(Draft202012Validator, {**terse, "items": _items})


def _items(validator: Any, items: Any, instance: Any, schema: Schema) -> Iterator[Any]:
    """``items``, by slices when its schema is a plain value and every value passes; else
    value by value, up to the first that fails (a list of millions of wrong values is
    refused as fast as one)."""
    if not validator.is_type(instance, "array") or "prefixItems" in schema:
        return
    if type(instance) is list and _all_pass(items, instance):
        return
    for index, item in enumerate(instance):
        errors = list(validator.descend(item, items, path=index))
        if errors:
            yield from errors
            return


TERSE = ("type", "minItems", "maxItems", "anyOf", "not", "enum", "contains", "additionalProperties")


def _terse(keyword: str) -> Any:
    """``keyword`` as Draft 2020-12 decides it, its error told without the instance's
    repr (of a list of millions of values, or of one nested thousands deep): a refusal is
    told from the error's path and keyword (``input_messages``)."""
    from jsonschema.exceptions import ValidationError as Error

    def terse(validator: Any, value: Any, instance: Any, schema: Schema) -> Iterator[Any]:
        if keyword == "type":
            kinds = value if isinstance(value, list) else [value]
            if not any(validator.is_type(instance, kind) for kind in kinds):
                yield Error(f"is not of type {value!r}")
        elif keyword in ("minItems", "maxItems") and validator.is_type(instance, "array"):
            if len(instance) < value if keyword == "minItems" else len(instance) > value:
                yield Error(f"has {len(instance)} items (the {keyword} is {value})")
        elif keyword == "anyOf":  # a branch's first error rules it out; all, when none fits
            for index, branch in enumerate(value):
                if next(validator.descend(instance, branch, schema_path=index), None) is None:
                    return
            context = [
                error
                for index, branch in enumerate(value)
                for error in validator.descend(instance, branch, schema_path=index)
            ]
            yield Error("fits none of the forms", context=context)
        elif keyword == "not" and validator.evolve(schema=value).is_valid(instance):
            yield Error(f"must not be valid under {value!r}")
        elif keyword == "enum":
            if not any(
                validator.evolve(schema={"const": each}).is_valid(instance) for each in value
            ):
                yield Error(f"is not one of {value!r}")
        elif keyword == "contains" and validator.is_type(instance, "array"):
            yield from _contains(validator, value, instance, schema)
        elif keyword == "additionalProperties" and validator.is_type(instance, "object"):
            named = schema.get("properties", {})
            extras = [key for key in instance if key not in named]
            if isinstance(value, dict):
                for extra in extras:
                    yield from validator.descend(instance[extra], value, path=extra)
            elif value is False and extras:
                yield Error(f"has {len(extras)} properties not declared")

    return terse


def _equal(validator: Any, instance: Any, value: Any) -> bool:
    """Equal as JSON Schema's ``const`` says (``true`` is not ``1``)."""
    return bool(validator.evolve(schema={"const": value}).is_valid(instance))


def _named(contains: Any) -> str | None:
    """The name of a tensor ``contains`` looks for, when that is all it looks for."""
    if not isinstance(contains, dict) or contains.keys() != {"type", "properties"}:
        return None
    properties = contains["properties"]
    if contains["type"] != "object" or properties.keys() != {"name"}:
        return None
    name = properties["name"]
    return name["const"] if name.keys() == {"const"} and type(name["const"]) is str else None


def _contains(validator: Any, contains: Schema, instance: list[Any], schema: Schema) -> Any:
    from jsonschema.exceptions import ValidationError as Error

    least, most = schema.get("minContains", 1), schema.get("maxContains", len(instance))
    named = _named(contains)
    if named is not None:  # {"type": "object", "properties": {"name": {"const": TEXT}}}
        matches = sum(isinstance(item, dict) and item.get("name", 0) == named for item in instance)
    else:
        matches = sum(map(validator.evolve(schema=contains).is_valid, instance))
    if matches > most:
        yield Error(f"{matches} items match", validator="maxContains", validator_value=most)
    elif matches < least and not matches:
        yield Error("no item matches")
    elif matches < least:
        yield Error(f"{matches} items match", validator="minContains", validator_value=least)


def _all_pass(items: Any, values: list[Any]) -> bool:
    """Whether every value certainly fits ``items``, a plain value schema; False when not
    sure (then each value is checked by the validator)."""
    if not isinstance(items, dict) or not items.keys() <= PLAIN_KEYS:
        return False
    allowed = PLAIN_TYPES.get(items.get("type", ""))
    if allowed is None:
        return False
    low, high = items.get("minimum"), items.get("maximum")
    for start in range(0, len(values), BULK):
        part = values[start : start + BULK]
        if not set(map(type, part)) <= allowed:
            return False
        if low is not None and part and not min(part) >= low:
            return False
        if high is not None and part and not max(part) <= high:
            return False
    return True


def _order(error: ValidationError) -> tuple[int, int]:
    """Unknown inputs first, then what is wrong with an input, then missing inputs; the
    outermost first."""
    return LAST.get(str(error.validator), 1), len(error.relative_path)


def _innermost(error: ValidationError) -> ValidationError:
    """Into each ``anyOf``, by the branch of the instance's shape, to the error in it."""
    while error.validator == "anyOf" and error.context:
        branch = _branch(error.validator_value, error.instance)
        inside = [sub for sub in error.context if sub.relative_schema_path[0] == branch]
        if not inside:
            return error
        error = min(inside, key=_order)
    return error


def _branch(branches: list[Schema], instance: Any) -> int | None:
    """The first branch whose kind fits the instance: its type, its items' kind (a list
    of lists or of values), the tensor of its name."""
    for index, branch in enumerate(branches):
        if _fits(branch, instance):
            return index
    return None


def _fits(branch: Schema, instance: Any) -> bool:
    name = branch.get("properties", {}).get("name", {})
    if "const" in name:
        return isinstance(instance, dict) and instance.get("name") == name["const"]
    kind = branch.get("type")
    if kind == "array":
        if not isinstance(instance, list):
            return False
        nested = branch.get("items", {}).get("type") == "array"
        return not instance or nested == isinstance(instance[0], list)
    if kind is not None:
        return not isinstance(instance, (list, dict))
    return True
