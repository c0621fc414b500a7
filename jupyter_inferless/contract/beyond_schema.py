"""The rules of a request JSON Schema cannot state, each checked by name once the request
fits its schema (``inputs``): a tensor's shape against its number of values, and values
JSON carries to the kernel unchanged."""

from __future__ import annotations

import math
from typing import Any

from .datatypes import BULK, json_problem, value_phrase
from .errors import InputError
from .schema import InputSpec


def shape_holds_data(spec: InputSpec, shape: Any, count: int) -> None:
    """A tensor's ``shape``, multiplied out, is its number of values (a rule between two
    fields)."""
    if isinstance(shape, list) and math.prod(shape) != count:
        sizes = [int(size) for size in shape]  # the schema's integers (2.0 is one)
        holds = f"shape {sizes} holds {math.prod(sizes)} values, data has {count}"
        raise InputError(f"input {spec.name!r}: {holds}", spec.name)


def json_carries(name: str, value: Any) -> Any:
    """``value``, once JSON can carry it (and the input's name) to the kernel unchanged:
    no lone surrogate (JSON Schema's string takes one), no number that is not finite."""
    problem = json_problem([name, value])
    if problem is not None:
        raise InputError(f"input {name[:80]!r}: {problem}", name)
    return value


def finite_numbers(spec: InputSpec, values: list[Any]) -> None:
    """Every number of an FP* input is finite: JSON Schema's number takes a NaN (which a
    binary tensor may hold), and JSON cannot carry it."""
    for start in range(0, len(values), BULK):
        part = values[start : start + BULK]
        if not all(map(math.isfinite, part)):
            bad = next(value for value in part if not math.isfinite(value))
            problem = value_phrase("maximum", bad, spec.datatype)
            raise InputError(f"input {spec.name!r} ({spec.datatype}): {problem}", spec.name)
