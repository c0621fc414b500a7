"""Inferless/KServe v2 datatypes: families, integer ranges, float limits; what a value of
each may be, stated once as JSON Schema (``value_schema``), and told when it is not
(``value_phrase``); the datatype of Python values (``infer_datatype``); query texts read
as a datatype.
"""

from __future__ import annotations

import math
import re
import reprlib
import sys
from typing import Any

Schema = dict[str, Any]

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
EXPECTED = {
    "int": "an integer",
    "float": "a number",
    "string": "a string",
    "bool": "a boolean (true/false)",
}
SHOWN = reprlib.Repr()  # a few levels, a few items, a short string
SHOWN.maxlevel, SHOWN.maxlist, SHOWN.maxdict, SHOWN.maxstring = 3, 4, 4, 36
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
    return {"type": "string" if kind == "string" else "boolean"}


def value_phrase(keyword: str, value: Any, datatype: str) -> str:
    """What is wrong with one value of a datatype, by the keyword of ``value_schema`` it
    breaks (type, minimum or maximum)."""
    if keyword not in ("minimum", "maximum"):
        shown = repr(value) if type(value) is float else describe(value)  # a fraction
        return f"expected {EXPECTED[family(datatype)]}, got {shown}"
    if datatype in INT_RANGES:
        low, high = INT_RANGES[datatype]
        return f"{value} is out of range for {datatype} ({low}..{high})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"expected a finite number, got {value!r}"
    return f"{value!r} is out of range for {datatype} (±{FLOAT_LIMITS[datatype]:g})"


def describe(value: Any) -> str:
    """A value as a refusal shows it: its type and a short repr (a few levels, a few
    items: a value nested thousands deep is shown without recursing through it)."""
    if value is None:
        return "null"
    return f"{type(value).__name__} {SHOWN.repr(value)}"


def infer_datatype(values: list[Any]) -> str:
    """The KServe v2 datatype of Python values, by the Triton convention: what
    ``tritonclient.utils.np_to_triton_dtype`` names the dtype numpy gives them. Booleans
    are BOOL, integers INT64, floats (or floats and integers) FP64: a Python float is a
    double. Text is BYTES, and so is what numpy would not type as one of these (booleans
    mixed with numbers, integers beyond INT64, other objects) and an empty list: such
    values go as JSON, as they are."""
    kinds = {_kind(kind) for kind in set(map(type, values))}
    if kinds == {"bool"}:
        return "BOOL"
    if kinds == {"int"}:
        low, high = INT_RANGES["INT64"]
        return "INT64" if low <= min(values) and max(values) <= high else "BYTES"
    if kinds and kinds <= {"int", "float"}:
        return "FP64"
    return "BYTES"


def _kind(kind: type) -> str:
    for name, base in (("bool", bool), ("int", int), ("float", float)):
        if issubclass(kind, base):
            return name
    return "other"


def labels_compatible(sent: str, declared: str) -> bool:
    """Whether a client's datatype label may carry values for a declared input.

    Real clients label loosely (INT64 for INT32, BYTES for STRING); the values
    are checked against the declared type afterwards.
    """
    sent_family, declared_family = family(sent), family(declared)
    if sent_family == declared_family:
        return True
    return sent_family == "int" and declared_family == "float"


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
                floats = values if types == {float} else [v for v in values if type(v) is float]
                if not all(map(math.isfinite, floats)):
                    if any(map(math.isnan, floats)):
                        return "NaN, a number that is not finite (JSON carries finite numbers only)"
                    return "a number too large to be finite (JSON carries finite numbers only)"
            if str in types:
                strings = values if types == {str} else [v for v in values if type(v) is str]
                found = _SURROGATE.search("".join(strings))
                if found:
                    code = f"U+{ord(found.group()):04X}"
                    return f"a lone surrogate ({code}) in a string, which is not Unicode text"
            if any(issubclass(kind, (list, dict)) for kind in types):
                stack.extend(v for v in values if isinstance(v, (list, dict)))
    return None


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


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
