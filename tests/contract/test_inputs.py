"""Request forms to ``inputs``: scalars, lists, loose labels, every rule naming the input."""

from __future__ import annotations

import pytest

from jupyter_inferless.contract import InputError, decode_body, decode_query, parse_input_schema

SCHEMA = parse_input_schema(
    {
        "prompt": {"datatype": "STRING", "required": True, "shape": [1]},
        "n": {"datatype": "INT32", "required": False, "shape": [1]},
        "flag": {"datatype": "BOOL", "required": False, "shape": [1]},
    },
    streaming=True,
)
BATCH = parse_input_schema(
    {
        "xs": {"datatype": "FP16", "required": True, "shape": [-1]},
        "grid": {"datatype": "UINT8", "required": False, "shape": [2, 2]},
    },
    streaming=False,
)


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "hi", "n": 2},
        {"parameters": {"prompt": "hi", "n": 2}},
        {"parameters": {"prompt": "hi"}, "n": 2},
        {"prompt": ["hi"], "n": [2]},
        {"id": "abc", "prompt": "hi", "n": 2.0},
        {
            "inputs": [
                {"name": "prompt", "shape": [1], "datatype": "BYTES", "data": ["hi"]},
                {"name": "n", "shape": [1], "datatype": "INT64", "data": [2]},
            ]
        },
        {
            "inputs": [
                {"name": "prompt", "shape": [1, 1], "datatype": "STRING", "data": ["hi"]},
                {"name": "n", "datatype": "UINT16", "data": 2},
            ]
        },
    ],
)
def test_every_form_gives_scalars_for_shape_1(body):
    assert decode_body(SCHEMA, body) == {"prompt": "hi", "n": 2}


def test_optional_inputs_not_sent_are_absent():
    assert decode_body(SCHEMA, {"prompt": "x"}) == {"prompt": "x"}


def test_query_values_are_coerced_and_reserved_keys_ignored():
    query = {
        "prompt": ["a b"],
        "n": ["7"],
        "flag": ["false"],
        "token": ["t"],
        "last_event_id": ["3"],
    }
    assert decode_query(SCHEMA, query) == {"prompt": "a b", "n": 7, "flag": False}


def test_lists_for_other_shapes():
    decoded = decode_body(BATCH, {"xs": [1, 2.5], "grid": [[1, 2], [3, 4]]})
    assert decoded == {"xs": [1.0, 2.5], "grid": [[1, 2], [3, 4]]}
    assert decode_body(BATCH, {"xs": 3}) == {"xs": [3.0]}


@pytest.mark.parametrize(
    ("schema", "body", "name", "says"),
    [
        (SCHEMA, {}, "prompt", "missing required input"),
        (SCHEMA, {"prompt": 1}, "prompt", "expected a string"),
        (SCHEMA, {"prompt": "x", "n": 2**31}, "n", "out of range for INT32"),
        (SCHEMA, {"prompt": "x", "n": "3"}, "n", "expected an integer"),
        (SCHEMA, {"prompt": "x", "flag": 1}, "flag", "expected a boolean"),
        (SCHEMA, {"prompt": "x", "extra": 1}, "extra", "unknown input"),
        (SCHEMA, {"prompt": ["a", "b"]}, "prompt", "takes one value"),
        (BATCH, {"xs": [1e6]}, "xs", "out of range for FP16"),
        (BATCH, {"xs": [True]}, "xs", "expected a number"),
        (BATCH, {"xs": [1], "grid": [1, 2, 3]}, "grid", "takes 4 values"),
        (BATCH, {"xs": [1], "grid": [1, 2, 3, 256]}, "grid", "out of range for UINT8"),
        (BATCH, {"xs": [1], "grid": [-1, 2, 3, 4]}, "grid", "out of range for UINT8"),
        (
            SCHEMA,
            {"inputs": [{"name": "prompt", "datatype": "BOOL", "data": [True]}]},
            "prompt",
            "does not fit the declared STRING",
        ),
        (
            SCHEMA,
            {"inputs": [{"name": "prompt", "shape": [3], "data": ["a"]}]},
            "prompt",
            "holds 3 values",
        ),
        (SCHEMA, {"inputs": [{"name": "prompt"}]}, "prompt", 'no "data"'),
    ],
)
def test_each_rule_names_the_input(schema, body, name, says):
    with pytest.raises(InputError, match=says) as caught:
        decode_body(schema, body)
    assert caught.value.input_name == name
    assert f"'{name}'" in str(caught.value)


@pytest.mark.parametrize("body", [[1], "x", None, 3, {"inputs": "x"}, {"parameters": [1]}])
def test_bodies_of_the_wrong_shape(body):
    with pytest.raises(InputError):
        decode_body(SCHEMA, body)


def test_undeclared_schema_passes_values_through():
    schema = parse_input_schema(None, streaming=True)
    assert decode_body(schema, {"anything": {"nested": [1]}}) == {"anything": {"nested": [1]}}
    assert decode_query(schema, {"a": ["1"], "token": ["t"]}) == {"a": "1"}
