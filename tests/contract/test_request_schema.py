"""One definition of a valid request: the JSON Schema the OpenAPI document publishes is the
one the server validates with, and each refusal names the input and the rule."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from jupyter_inferless.contract import InputError, decode_body, decode_query, parse_input_schema
from jupyter_inferless.contract.datatypes import infer_datatype
from jupyter_inferless.contract.inputs import FORMS, body_form
from jupyter_inferless.contract.request_schema import request_body
from jupyter_inferless.contract.validator import first_error, validator

SCHEMA = parse_input_schema(
    {
        "prompt": {"datatype": "STRING", "required": True, "shape": [1]},
        "n": {"datatype": "INT8", "required": False, "shape": [1]},
        "grid": {"datatype": "UINT8", "required": False, "shape": [2, 2]},
        "xs": {"datatype": "FP16", "required": False, "shape": [-1]},
    },
    streaming=False,
)
NONE_DECLARED = parse_input_schema({}, streaming=False)
UNDECLARED = parse_input_schema(None, streaming=False)
PUBLISHED = {schema: Draft202012Validator(request_body(schema)) for schema in (SCHEMA,)}

VALUES = st.recursive(
    st.one_of(st.integers(-300, 300), st.floats(-1e5, 1e5), st.booleans(), st.text(max_size=3)),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=8,
)
TENSOR = st.fixed_dictionaries(
    {"name": st.sampled_from(["prompt", "n", "grid", "xs", "other"])},
    optional={
        "data": VALUES,
        "datatype": st.sampled_from(["BYTES", "INT64", "UINT8", "FP32", "BOOL"]),
        "shape": st.lists(st.integers(0, 4), max_size=3),
    },
)
KEYS = st.sampled_from(["prompt", "n", "grid", "xs", "id", "other"])
BODIES = st.one_of(
    st.dictionaries(KEYS, VALUES, max_size=4),
    st.builds(
        lambda inside, beside: {"parameters": inside, **beside},
        st.one_of(st.dictionaries(KEYS, VALUES, max_size=3), VALUES),
        st.dictionaries(KEYS, VALUES, max_size=2),
    ),
    st.builds(lambda tensors: {"inputs": tensors}, st.lists(TENSOR, max_size=3)),
)


@settings(max_examples=500, deadline=None)
@given(body=BODIES)
def test_the_form_picked_by_its_keys_decides_as_the_published_any_of(body):
    published = PUBLISHED[SCHEMA].is_valid(body)
    picked = first_error(validator(FORMS[body_form(SCHEMA, body)](SCHEMA)), body) is None
    assert published == picked


@settings(max_examples=300, deadline=None)
@given(body=BODIES)
def test_what_the_published_schema_takes_the_server_takes(body):
    """Beyond the schema, only the two named rules refuse: a tensor's shape against its
    number of values, and text JSON cannot carry (hypothesis' text has no lone surrogate)."""
    try:
        decode_body(SCHEMA, body)
    except InputError as err:
        assert not PUBLISHED[SCHEMA].is_valid(body) or "holds" in str(err), str(err)
    else:
        assert PUBLISHED[SCHEMA].is_valid(body)


@pytest.mark.parametrize(
    ("schema", "body", "told"),
    [
        (SCHEMA, {"prompt": "a", "parameters": {"prompt": "b"}}, "'prompt' is given twice, in and"),
        (SCHEMA, {"parameters": {"n": 1}}, "missing required input 'prompt' (STRING)"),
        (SCHEMA, {"parameters": [1]}, '"parameters" must be a JSON object, not list [1]'),
        (SCHEMA, {"prompt": "a", "grid": [[1, 2], [3]]}, "takes lists nested as the shape"),
        (SCHEMA, {"prompt": "a", "grid": [1, 2, 3, 4, 5]}, "shape [2, 2] takes 4 values, got 5"),
        (SCHEMA, {"prompt": "a", "grid": 7}, "shape [2, 2] takes 4 values, got one"),
        (SCHEMA, {"prompt": "a", "xs": [[1.5]]}, "(FP16): expected a number, got list [[1.5]]"),
        (SCHEMA, {"prompt": "a", "n": 2.5}, "input 'n' (INT8): expected an integer, got 2.5"),
        (SCHEMA, {"prompt": {"k": 1}}, "input 'prompt' (STRING): expected a string, got dict"),
        (
            SCHEMA,
            {"inputs": [{"name": "prompt", "data": ["a"]}, {"name": "prompt", "data": ["b"]}]},
            "input 'prompt' is given twice",
        ),
        (SCHEMA, {"inputs": [{"name": "n", "data": [1]}]}, "missing required input 'prompt'"),
        (SCHEMA, {"inputs": [5]}, "inputs[0] must be an object with name, shape, datatype"),
        (SCHEMA, {"inputs": [{"data": [1]}]}, 'inputs[0] has no string "name"'),
        (
            SCHEMA,
            {"inputs": [{"name": "prompt", "data": ["a"], "parameters": 1}]},
            "input 'prompt': \"parameters\" must be a JSON object",
        ),
        (
            SCHEMA,
            {"inputs": [{"name": "prompt", "shape": "x", "data": ["a"]}]},
            "input 'prompt': shape must be a list of sizes, not 'x'",
        ),
        (
            SCHEMA,
            {"inputs": [{"name": "prompt", "data": ["a"]}], "outputs": 3},
            '"outputs" must be a list, not int 3',
        ),
        (SCHEMA, {"inputs": [{"name": "prompt", "data": ["a"]}], "id": 3}, '"id" must be a string'),
        (
            SCHEMA,
            {"inputs": [{"name": "prompt", "data": ""}, {"name": "xs", "shape": [3.0], "data": 1}]},
            "input 'xs': shape [3] holds 3 values, data has 1",
        ),
        (NONE_DECLARED, {"inputs": [{"name": "x", "data": [1]}]}, "the model's inputs are: none"),
        (NONE_DECLARED, {"x": 1}, "unknown input 'x'; the model's inputs are: none"),
        (UNDECLARED, {"x": 1, "parameters": {"x": 2}}, "input 'x' is given twice, in and"),
    ],
)
def test_each_refusal_names_what_and_why(schema, body, told):
    with pytest.raises(InputError) as caught:
        decode_body(schema, body)
    assert told in str(caught.value)


def test_the_query_is_validated_as_an_object_of_its_inputs():
    assert decode_query(SCHEMA, {"prompt": ["a"], "grid": ["1", "2", "3", "4"]}) == {
        "prompt": "a",
        "grid": [1, 2, 3, 4],
    }
    for query, told in [
        ({"prompt": ["a", "b"]}, "shape [1] takes one value, got a list of 2"),
        ({"prompt": ["a"], "grid": ["1"]}, "shape [2, 2] takes 4 values, got 1"),
        ({"prompt": ["a"], "n": ["300"]}, "300 is out of range for INT8"),
        ({"n": ["1"]}, "missing required input 'prompt' (STRING)"),
        ({"prompt": ["a"], "q": ["1"]}, "unknown input 'q'"),
    ]:
        with pytest.raises(InputError) as caught:
            decode_query(SCHEMA, query)
        assert told in str(caught.value), query


@pytest.mark.parametrize(
    ("values", "datatype"),
    [
        ([0.5], "FP64"),
        ([1, 2.5], "FP64"),
        ([3], "INT64"),
        ([2**63], "BYTES"),
        ([True], "BOOL"),
        ([True, 1], "BYTES"),
        (["a"], "BYTES"),
        ([], "BYTES"),
        ([None], "BYTES"),
    ],
)
def test_python_values_get_the_triton_datatype(values: list[Any], datatype: str):
    assert infer_datatype(values) == datatype


def test_importing_the_contract_loads_no_validator():
    """jsonschema is imported when a request is first validated, not by the kernel's
    import of the contract."""
    code = "import sys, jupyter_inferless.contract; print('jsonschema' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.stdout.strip() == "False", loaded.stderr
