"""Strict inputs: query values as JSON writes them, nothing a kernel would get altered.

Query integers are ASCII decimal digits with an optional sign; numbers may add a fraction
and an exponent but must be finite; booleans are ASCII words. A model that declares no
inputs gets values JSON can carry unchanged: a lone surrogate or a number that overflowed
to infinity is refused, naming the input, never sent as U+FFFD or ``"inf"``.
"""

from __future__ import annotations

import json
import math

import pytest

from jupyter_inferless.contract import InputError, decode_body, decode_query, parse_input_schema
from jupyter_inferless.contract.datatypes import parse_text

SCHEMA = parse_input_schema(
    {
        "n": {"datatype": "INT32", "required": False, "shape": [1]},
        "x": {"datatype": "FP32", "required": False, "shape": [1]},
        "y": {"datatype": "FP64", "required": False, "shape": [1]},
        "flag": {"datatype": "BOOL", "required": False, "shape": [1]},
    },
    streaming=False,
)
UNDECLARED = parse_input_schema(None, streaming=True)


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("n", "1_0", "expected an integer"),  # int() reads it as 10
        ("n", "\u0661\u0662", "expected an integer"),  # Arabic-Indic 12
        ("n", "\uff11", "expected an integer"),  # a fullwidth 1
        ("n", " 5", "expected an integer"),
        ("n", "5\n", "expected an integer"),
        ("x", "1_0.5", "expected a number"),  # float() reads it as 10.5
        ("x", "nan", "expected a number"),
        ("x", "NaN", "expected a number"),
        ("x", "inf", "expected a number"),
        ("x", "-Infinity", "expected a number"),
        ("x", "\u0661.\u0665", "expected a number"),
        ("x", " 1.5", "expected a number"),
        ("x", "1.", "expected a number"),
        ("y", "1e400", "too large to be a finite number"),  # float() reads it as inf
        ("y", "-1e400", "too large to be a finite number"),
        ("flag", " true", "expected true or false"),
    ],
)
def test_query_values_that_are_not_ascii_json_are_refused_naming_the_input(name, text, says):
    with pytest.raises(InputError, match=says) as caught:
        decode_query(SCHEMA, {name: [text]})
    assert caught.value.input_name == name
    assert f"'{name}'" in str(caught.value)


@pytest.mark.parametrize(
    ("datatype", "text", "value"),
    [
        ("INT32", "7", 7),
        ("INT32", "-7", -7),
        ("INT32", "+7", 7),
        ("INT32", "007", 7),
        ("FP32", "1.5", 1.5),
        ("FP32", "-2", -2.0),
        ("FP64", "1.5e3", 1500.0),
        ("FP64", "1E-2", 0.01),
        ("BOOL", "true", True),
        ("BOOL", "TRUE", True),
        ("BOOL", "0", False),
        ("BOOL", "no", False),
        ("STRING", " 1_0 \u0661", " 1_0 \u0661"),
    ],
)
def test_query_values_in_ascii_decimal_are_read(datatype, text, value):
    assert parse_text(text, datatype) == value


@pytest.mark.parametrize(
    ("body", "name", "says"),
    [
        ({"x": "\ud800"}, "x", "lone surrogate \\(U\\+D800\\)"),
        ({"x": "a\udc80b"}, "x", "lone surrogate \\(U\\+DC80\\)"),  # would arrive as U+FFFD
        ({"x": ["ok", {"k": ["\udfff"]}]}, "x", "lone surrogate"),
        ({"x": {"\ud83d": 1}}, "x", "lone surrogate"),  # in a key
        ({"\udc80": 1}, "\udc80", "lone surrogate"),  # the input's own name
        ({"x": math.inf}, "x", "too large to be finite"),  # what 1e400 parses to
        ({"x": [1.0, -math.inf]}, "x", "too large to be finite"),  # would arrive as "-inf"
        ({"parameters": {"x": {"y": [math.inf]}}}, "x", "too large to be finite"),
        ({"inputs": [{"name": "x", "datatype": "FP64", "data": [1e400]}]}, "x", "finite"),
        ({"inputs": [{"name": "t", "datatype": "BYTES", "data": ["\ud800"]}]}, "t", "surrogate"),
        ({"inputs": [{"name": "f", "datatype": "FP32", "data": [math.nan]}]}, "f", "NaN"),
    ],
)
def test_a_model_without_a_schema_gets_no_value_json_cannot_carry(body, name, says):
    with pytest.raises(InputError, match=says) as caught:
        decode_body(UNDECLARED, body)
    assert caught.value.input_name == name
    assert repr(name) in str(caught.value)


def test_a_model_without_a_schema_gets_pairs_and_large_finite_numbers_unchanged():
    body = json.loads('{"x": "\\ud83d\\ude00", "y": 1e308, "z": [-1.5e-300, 123456789012345678]}')
    assert decode_body(UNDECLARED, body) == {"x": "\U0001f600", "y": 1e308, **{"z": body["z"]}}
