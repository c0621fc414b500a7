"""The validator's bulk ``items`` (a slice at a time by builtins) and the kernel's plain
value check decide exactly as jsonschema's own Draft 2020-12 validator."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from jupyter_inferless.contract.datatypes import DATATYPES, value_schema
from jupyter_inferless.contract.validator import (
    BULK,
    first_error,
    plain_keyword_broken,
    validator,
)

VALUES = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=4),
    st.sampled_from(["\ud800", None, [], {}, 2**63, -(2**63) - 1, 65504.0, 65520.0, 2.0]),
)


def stock_errors(schema: dict[str, Any], instance: Any) -> list[tuple[Any, ...]]:
    return sorted(
        (tuple(error.absolute_path), str(error.validator))
        for error in Draft202012Validator(schema).iter_errors(instance)
    )


@settings(max_examples=400, deadline=None)
@given(values=st.lists(VALUES, max_size=12), datatype=st.sampled_from(sorted(DATATYPES)))
def test_bulk_items_decide_as_the_stock_validator(values, datatype):
    schema = {"type": "array", "items": value_schema(datatype)}
    error = first_error(validator(schema), values)
    stock = stock_errors(schema, values)
    assert (error is None) == (not stock)
    if error is not None:  # the first value that breaks the rule, and a rule it breaks
        first = stock[0][0]
        assert tuple(error.absolute_path) == first
        assert error.validator in {keyword for path, keyword in stock if path == first}


@settings(max_examples=400, deadline=None)
@given(value=VALUES, datatype=st.sampled_from(sorted(DATATYPES)))
def test_the_plain_check_decides_as_the_stock_validator(value, datatype):
    schema = value_schema(datatype)
    stock = {keyword for _, keyword in stock_errors(schema, value)}
    broken = plain_keyword_broken(schema, value)
    assert (broken is None) == (not stock) and (broken is None or broken in stock)


def test_bulk_items_work_a_slice_at_a_time():
    values = [*range(-5, 3 * BULK), 2**31]
    error = first_error(validator({"type": "array", "items": value_schema("INT32")}), values)
    assert error is not None and list(error.absolute_path) == [len(values) - 1]
    assert error.validator == "maximum"
    assert first_error(validator({"items": value_schema("INT64")}), values) is None


@pytest.mark.parametrize("size", [10**6])
def test_a_long_list_of_wrong_values_is_refused_at_the_first(size):
    values = ["x"] * size  # a million errors, but one is found and made
    error = first_error(validator({"items": value_schema("FP32")}), values)
    assert error is not None and list(error.absolute_path) == [0]
    assert len(error.message) < 100  # told without the list's repr
