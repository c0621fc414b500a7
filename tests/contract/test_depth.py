"""How deep a request nests, measured without recursion, and the refusals that name the
limit and the input."""

from __future__ import annotations

import re
from typing import Any

import pytest

from jupyter_inferless.contract import (
    InputError,
    check_depth,
    decode_body,
    depth_of,
    parse_input_schema,
    too_deep_to_parse,
)


def nested(depth: int, core: Any = 1) -> Any:
    """``core`` inside ``depth`` lists, built without recursion."""
    for _ in range(depth):
        core = [core]
    return core


DEPTHS = [
    (1, 0),
    ("text", 0),
    (None, 0),
    ([], 1),
    ({}, 1),
    ([1, 2, 3], 1),
    ((1, (2,)), 2),
    ([[1]], 2),
    ({"a": [1]}, 2),
    ([1, [2, [3]], {"k": {}}], 3),
    ({"a": 1, "b": {"c": {"d": []}}}, 4),
    ([[1, "s"], ({"k": [[]]},)], 5),  # scalars, tuples and mappings beside each other
    ([[]] * 3 + [1], 2),
    (nested(32), 32),
    (nested(33), 33),
    (nested(100_000), 100_000),  # far past the recursion limit: no recursion here
]


@pytest.mark.parametrize(("value", "depth"), DEPTHS)
def test_depth_of(value: Any, depth: int) -> None:
    assert depth_of(value) == depth


def test_depth_of_stops_once_past_the_limit() -> None:
    assert depth_of(nested(100_000), stop_above=32) == 33
    assert depth_of([1, [2, [3, [4]]]], stop_above=2) == 3
    assert depth_of([1, [2, [3, [4]]]], stop_above=4) == 4


@pytest.mark.parametrize(
    ("value", "limit", "refused"),
    [
        (nested(32), 32, False),
        (nested(33), 32, True),
        ({"a": nested(31)}, 32, False),
        ({"a": nested(32)}, 32, True),
        (nested(1), 1, False),
        ([[], [[]]], 1, True),
        (nested(100_000), 32, True),
    ],
)
def test_check_depth_refuses_past_the_limit_naming_it_and_the_input(
    value: Any, limit: int, refused: bool
) -> None:
    if not refused:
        check_depth(value, limit, "x")
        return
    with pytest.raises(InputError) as raised:
        check_depth(value, limit, "x")
    assert str(raised.value) == (
        f"input 'x' is nested more than {limit} levels deep "
        f"(the server's max_input_depth is {limit})"
    )
    assert raised.value.input_name == "x"


def test_the_parser_s_refusal_names_the_limit() -> None:
    assert too_deep_to_parse("the body", 32) == (
        "the body is nested too deeply to parse: an input may nest 32 levels "
        "(the server's max_input_depth is 32)"
    )


SCHEMA_LESS = parse_input_schema(None, streaming=True)
LISTS = parse_input_schema({"x": {"datatype": "INT32", "shape": [-1]}}, streaming=False)


@pytest.mark.parametrize("schema", [SCHEMA_LESS, LISTS], ids=["schema-less", "declared"])
@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"x": nested(5)}, "input 'x'"),
        ({"parameters": {"x": nested(5)}}, "input 'x'"),
        ({"inputs": [{"name": "x", "datatype": "INT32", "data": nested(5)}]}, "input 'x'"),
        ({"inputs": [{"name": "x", "shape": nested(5, 2), "data": [1]}]}, "input 'x'"),
        ({"inputs": [{"data": nested(5)}]}, "inputs[0]"),
        ({"inputs": [], "outputs": nested(5)}, "'outputs'"),
    ],
)
def test_decode_body_checks_every_form_first(schema: Any, body: Any, named: str) -> None:
    expected = f"{named} is nested more than 4 levels deep"
    with pytest.raises(InputError, match="^" + re.escape(expected)):
        decode_body(schema, body, max_depth=4)


def test_decode_body_takes_values_at_the_limit_and_checks_them_without_recursion() -> None:
    four = parse_input_schema({"x": {"datatype": "INT32", "shape": [-1] * 4}}, streaming=False)
    assert decode_body(four, {"x": nested(4)}, max_depth=4) == {"x": nested(4)}
    deep = nested(5000)
    tensors = {"inputs": [{"name": "x", "data": deep}]}
    assert decode_body(SCHEMA_LESS, tensors, 10_000) == {"x": deep}
    assert decode_body(SCHEMA_LESS, {"x": deep}, max_depth=10_000) == {"x": deep}
    told = "input 'x' (INT32): expected an integer, got list [[[[...]]]]"  # briefly
    for body in (tensors, {"x": deep}):  # deeper than its shape: refused
        with pytest.raises(InputError, match=re.escape(told)):
            decode_body(LISTS, body, max_depth=10_000)
