"""The bulk checks of a tensor's values (``check_values``, a slice at a time by builtins)
answer exactly as the value-by-value ones (``check_value``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_inferless.contract.datatypes import DATATYPES, check_value, check_values

VALUES = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=4),
    st.sampled_from(["\ud800", "a\udfffb", None, [], {}, 2**63, -(2**63) - 1, 65504.0, 65520.0]),
)


@settings(max_examples=400, deadline=None)
@given(values=st.lists(VALUES, max_size=12), datatype=st.sampled_from(sorted(DATATYPES)))
def test_bulk_checks_answer_as_one_value_at_a_time(values, datatype):
    try:
        expected: object = [check_value(value, datatype) for value in values]
    except ValueError as err:
        expected = ("ValueError", str(err))
    try:
        got: object = check_values(values, datatype)
    except ValueError as err:
        got = ("ValueError", str(err))
    assert repr(got) == repr(expected)
    if isinstance(got, list):
        assert [type(item) for item in got] == [type(item) for item in expected]


def test_bulk_checks_work_a_slice_at_a_time():
    values = [*range(-5, 40_000), 2**31]
    with pytest.raises(ValueError, match="2147483648 is out of range for INT32"):
        check_values(values, "INT32")
    assert check_values(values[:-1], "INT64") == values[:-1]
    assert check_values(values[:-1], "FP32") == [float(v) for v in values[:-1]]
