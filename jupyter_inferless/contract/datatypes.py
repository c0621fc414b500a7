"""Inferless/KServe v2 datatypes: families, integer ranges and value checks."""

from __future__ import annotations

import math
import re
from typing import Any

INT_RANGES: dict[str, tuple[int, int]] = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
FLOAT_LIMITS: dict[str, float] = {
    "FP16": 65504.0,
    "BF16": 3.3895313892515355e38,
    "FP32": 3.4028234663852886e38,
    "FP64": math.inf,
}
STRING_TYPES = frozenset({"STRING", "BYTES"})
DATATYPES = frozenset({"BOOL", *INT_RANGES, *FLOAT_LIMITS, *STRING_TYPES})
STREAMING_DATATYPES = frozenset({"STRING", "BOOL", "INT8", "INT16", "INT32", "INT64"})
BULK = 16 * 1024  # values checked by one call
_SURROGATE = re.compile("[\ud800-\udfff]")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def family(datatype: str) -> str:
    """The family a datatype belongs to: int, float, string or bool."""
    if datatype in INT_RANGES:
        return "int"
    if datatype in FLOAT_LIMITS:
        return "float"
    if datatype in STRING_TYPES:
        return "string"
    return "bool"


def labels_compatible(sent: str, declared: str) -> bool:
    """Whether a client's datatype label may carry values for a declared input.

    Real clients label loosely (INT64 for INT32, BYTES for STRING); the values
    are checked against the declared type afterwards.
    """
    sent_family, declared_family = family(sent), family(declared)
    if sent_family == declared_family:
        return True
    return sent_family == "int" and declared_family == "float"


def check_value(value: Any, datatype: str) -> Any:
    """Check one element against a datatype; return it, or raise ValueError with the rule."""
    kind = family(datatype)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected a boolean (true/false), got {_describe(value)}")
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_describe(value)}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise ValueError(f"the string is not valid Unicode ({err.reason})") from None
        return value
    if kind == "int":
        return _check_int(value, datatype)
    return _check_float(value, datatype)


def check_values(values: list[Any], datatype: str) -> list[Any]:
    """``check_value`` for each of ``values``: the checked values, or ValueError for the
    first that breaks the rule. A slice of BULK values at a time, by builtins when every
    value of the slice passes (a decode thread then leaves the loop the GIL between two)."""
    checked: list[Any] = []
    for start in range(0, len(values), BULK):
        part = values[start : start + BULK]
        passed = _passed(part, datatype)
        checked += passed if passed is not None else [check_value(v, datatype) for v in part]
    return checked


def json_problem(value: Any) -> str | None:
    """What in ``value`` JSON cannot carry as it is: a lone surrogate in a string (a
    ``\\ud800`` escape with no pair) or a number that is not finite (``1e400`` reads as
    infinity); None when there is nothing. Walked with a stack, a slice at a time."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.append(list(item.keys()))
            stack.append(list(item.values()))
            continue
        part = item if isinstance(item, list) else [item]
        for start in range(0, len(part), BULK):
            values = part[start : start + BULK]
            types = set(map(type, values))
            if float in types:
                floats = [v for v in values if type(v) is float]
                if not all(map(math.isfinite, floats)):
                    if any(map(math.isnan, floats)):
                        return "NaN, a number JSON cannot carry"
                    return "a number too large to be finite (JSON carries finite numbers only)"
            if str in types:
                found = _SURROGATE.search("".join(v for v in values if type(v) is str))
                if found:
                    code = f"U+{ord(found.group()):04X}"
                    return f"a lone surrogate ({code}) in a string, which is not Unicode text"
            stack.extend(v for v in values if isinstance(v, (list, dict)))
    return None


def _passed(part: list[Any], datatype: str) -> list[Any] | None:
    """The checked slice when every value passes; None to check them one by one."""
    types = set(map(type, part))
    kind = family(datatype)
    if kind == "int":
        low, high = INT_RANGES[datatype]
        return part if types == {int} and low <= min(part) and max(part) <= high else None
    if kind == "bool":
        return part if types == {bool} else None
    if kind == "string":
        if types != {str} or _SURROGATE.search("".join(part)):
            return None
        return part
    if not types <= {int, float}:
        return None
    try:
        numbers = list(map(float, part)) if int in types else part
    except OverflowError:
        return None
    if not all(map(math.isfinite, numbers)) or max(map(abs, numbers)) > FLOAT_LIMITS[datatype]:
        return None
    return numbers


def _check_int(value: Any, datatype: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected an integer, got {_describe(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"expected an integer, got {value!r}")
        value = int(value)
    low, high = INT_RANGES[datatype]
    if not low <= value <= high:
        raise ValueError(f"{value} is out of range for {datatype} ({low}..{high})")
    return value


def _check_float(value: Any, datatype: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {_describe(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{_describe(value)} is out of range for {datatype}") from None
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    limit = FLOAT_LIMITS[datatype]
    if abs(number) > limit:
        raise ValueError(f"{value!r} is out of range for {datatype} (±{limit:g})")
    return number


def parse_text(text: str, datatype: str) -> Any:
    """Turn a query-string value into a value of the datatype (for GET requests).

    Strict, as JSON is: an integer is ASCII decimal digits with an optional sign (not
    ``1_0``, not another script's digits, no spaces); a number may also have a fraction
    and an exponent (``-1.5e3``) and must be finite once read (not ``nan``, ``inf``,
    ``1e400``); a boolean is ``true`` or ``false`` (or ``1``/``0``, ``yes``/``no``), in any
    case, in ASCII.
    """
    kind = family(datatype)
    if kind == "string":
        return text
    if kind == "bool":
        lowered = text.lower() if text.isascii() else ""
        if lowered in {"true", "1", "yes"}:
            return True
        if lowered in {"false", "0", "no"}:
            return False
        raise ValueError(f"expected true or false, got {_shown(text)}")
    if kind == "int":
        if not _INTEGER.fullmatch(text):
            raise ValueError(f"expected an integer (ASCII digits, a sign), got {_shown(text)}")
        return int(text)
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"expected a number (ASCII decimal), got {_shown(text)}")
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{_shown(text)} is too large to be a finite number")
    return number


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{type(value).__name__} {shown}"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
