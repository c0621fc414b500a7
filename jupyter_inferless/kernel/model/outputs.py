"""Outputs: make them JSON, and hold every event of a stream to the first one's schema."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ...contract.errors import OutputError

MAX_CONVERTED_ELEMENTS = 1_000_000


def to_json_value(value: Any, where: str) -> Any:
    """Return ``value`` as plain JSON data, converting tensors and numpy values.

    Raises OutputError naming ``where`` and saying how to fix the value.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise OutputError(
                f"{where} is {value!r}, which JSON cannot carry; send None or a string"
            )
        return value
    if isinstance(value, (list, tuple)):
        return [to_json_value(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        return {
            _key(key, where): to_json_value(item, f"{where}[{key!r}]")
            for key, item in value.items()
        }
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return to_json_value(_array_to_list(value, where), where)
    raise OutputError(
        f"{where} is a {type(value).__name__}, which is not JSON; "
        "convert it with str(), int(), float() or .tolist()"
    )


def _array_to_list(value: Any, where: str) -> Any:
    """Convert a torch tensor or numpy array/scalar, refusing huge ones."""
    size = getattr(value, "size", None)
    count = value.numel() if hasattr(value, "numel") else size
    if isinstance(count, int) and count > MAX_CONVERTED_ELEMENTS:
        raise OutputError(f"{where} has {count} elements; stream smaller pieces or summarise it")
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    return value.tolist()


def _key(key: Any, where: str) -> str:
    if not isinstance(key, str):
        raise OutputError(f"{where} has a key {key!r}; output keys must be strings")
    return key


def kind_of(value: Any) -> str:
    """The JSON kind of a value; int and float are both 'number'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class OutputChecker:
    """Converts each output to one line of JSON and checks it against the first event's schema."""

    def __init__(self) -> None:
        self.kinds: dict[str, str] | None = None
        self.count = 0

    def encode(self, output: Any) -> str:
        """Check an output dict and return it as one line of JSON."""
        kinds = _plain_kinds(output)
        if kinds is not None and kinds == self.kinds:
            self.count += 1  # the usual event: plain values, the first event's kinds
            return _encode(output)
        where = f"event {self.count}"
        if not isinstance(output, Mapping):
            raise OutputError(
                f"{where}: send_streamed_output takes a dict such as {{'OUT': text}}, "
                f"not a {type(output).__name__}"
            )
        converted = to_json_value(output, "output")
        kinds = {key: kind_of(item) for key, item in converted.items()}
        if self.kinds is None:
            self.kinds = kinds
        else:
            self._check_drift(kinds, where)
        self.count += 1
        return _encode(converted)

    def _check_drift(self, kinds: dict[str, str], where: str) -> None:
        assert self.kinds is not None
        expected = self.kinds
        for key in expected.keys() - kinds.keys():
            raise OutputError(f"{where}: output key {key!r} is missing; {_rule(expected)}")
        for key in kinds.keys() - expected.keys():
            raise OutputError(f"{where}: output key {key!r} is new; {_rule(expected)}")
        for key, kind in kinds.items():
            first = expected[key]
            if kind != first and "null" not in (kind, first):
                raise OutputError(
                    f"{where}: output key {key!r} changed from {first} to {kind}; {_rule(expected)}"
                )


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_PLAIN_KINDS = {str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def _plain_kinds(output: Any) -> dict[str, str] | None:
    """The kinds of a dict of plain JSON values (str keys; str, int, finite float, bool or
    None values), which need no conversion; None for anything else."""
    if type(output) is not dict:
        return None
    kinds = {}
    for key, value in output.items():
        kind = _PLAIN_KINDS.get(type(value))
        if kind is None or type(key) is not str or (kind == "number" and value - value != 0):
            return None  # not plain, or inf/nan (the full check explains)
        kinds[key] = kind
    return kinds


def _rule(kinds: Mapping[str, str]) -> str:
    shown = ", ".join(f"{key}: {kind}" for key, kind in kinds.items())
    return f"every event of a stream must have the keys and types of the first ({shown})"
