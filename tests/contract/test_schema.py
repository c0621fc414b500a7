"""INPUT_SCHEMA rules: datatypes, shapes, streaming limits, examples."""

from __future__ import annotations

import re

import pytest

from jupyter_inferless.contract import ModelSchema, SchemaError, parse_input_schema

ALL_TYPES = [
    "STRING",
    "BYTES",
    "BOOL",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "FP16",
    "FP32",
    "FP64",
    "BF16",
]


@pytest.mark.parametrize("datatype", ALL_TYPES)
def test_every_inferless_datatype_is_accepted_when_not_streaming(datatype):
    schema = parse_input_schema({"x": {"datatype": datatype, "shape": [-1]}}, streaming=False)
    assert schema.by_name["x"].datatype == datatype


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"datatype": "FP32", "shape": [1]}, "INT*, STRING or BOOL"),
        ({"datatype": "UINT8", "shape": [1]}, "INT*, STRING or BOOL"),
        ({"datatype": "BYTES", "shape": [1]}, "INT*, STRING or BOOL"),
        ({"datatype": "STRING", "shape": [2]}, "shape [1]"),
        ({"datatype": "INT32", "shape": [-1]}, "shape [1]"),
    ],
)
def test_streaming_limits_name_the_input(spec, says):
    with pytest.raises(SchemaError, match=re.escape(says)) as caught:
        parse_input_schema({"thing": spec}, streaming=True)
    assert "'thing'" in str(caught.value)
    assert "json.dumps" in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"datatype": "TEXT", "shape": [1]}, "datatype 'TEXT'"),
        ({"datatype": "INT8", "shape": []}, "shape"),
        ({"datatype": "INT8", "shape": [0]}, "shape"),
        ({"datatype": "INT8", "shape": "1"}, "shape"),
        ({"datatype": "INT8", "shape": [1], "required": "yes"}, "required"),
        ({"datatype": "INT8", "shape": [1], "example": [300]}, "out of range"),
        ({"datatype": "INT8", "shape": [1], "colour": 1}, "unknown keys"),
        ("INT8", "must be a dict"),
    ],
)
def test_broken_specs_are_refused_with_the_rule(spec, says):
    with pytest.raises(SchemaError, match=says) as caught:
        parse_input_schema({"n": spec}, streaming=False)
    assert "'n'" in str(caught.value)


def test_schema_survives_the_trip_to_the_server():
    schema = parse_input_schema(
        {
            "prompt": {"datatype": "STRING", "required": True, "shape": [1], "example": ["hi"]},
            "n": {"datatype": "INT32", "required": False, "shape": [1]},
        },
        streaming=True,
    )
    again = ModelSchema.from_json(schema.to_json())
    assert again == schema
    assert again.by_name["n"].required is False


def test_no_schema_means_undeclared_inputs():
    schema = parse_input_schema(None, streaming=True)
    assert not schema.declared
    assert ModelSchema.from_json(schema.to_json()).declared is False
