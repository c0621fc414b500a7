"""A large body's JSON off the loop: parsed in steps as json.loads parses it, packed for the
kernel strictly, and put in a message the session and jupyter_server would send alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jupyter_client.session import Session
from jupyter_server.services.kernels.connection.base import (
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)

from jupyter_inferless import protocol
from jupyter_inferless.server.decode import json_pack, json_steps
from jupyter_inferless.server.kernels.transport import prepared

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=30,
)


def outcome(parse: Any, text: str) -> tuple[Any, ...]:
    """What parsing ``text`` gives: the value (as JSON), or the error and its position."""
    try:
        return ("ok", json.dumps(parse(text)))
    except json.JSONDecodeError as err:
        return ("JSONDecodeError", err.msg, err.pos)
    except ValueError as err:
        return ("ValueError", str(err))


def reference(text: str) -> Any:
    return json.loads(text, parse_constant=json_steps.reject_constant)


@settings(max_examples=600, deadline=None)
@given(value=JSON, window=st.integers(1, 48), indent=st.sampled_from([None, 1]), data=st.data())
def test_steps_parse_as_json_loads_does_whatever_the_window(value, window, indent, data):
    text = json.dumps(value, indent=indent, ensure_ascii=data.draw(st.booleans()))
    if data.draw(st.booleans()) and text:  # or a broken document: one character more or less
        at = data.draw(st.integers(0, len(text)))
        extra = data.draw(st.sampled_from(list('[]{},:"\\ 0-.eNI')))
        text = text[:at] + (extra if data.draw(st.booleans()) else "") + text[at + 1 :]
    assert outcome(lambda t: json_steps.loads(t, window), text) == outcome(reference, text)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": NaN}',
        "[1, -Infinity]",
        '{"a": [1, 2], "a": 3}',
        '["a,b", "c", "d,"]',
        "[[1, [2, 3]], [4], {}, []]",
        " \n[1 ,2 , 3]\t",
        "[1,]",
        '{"a" 1}',
        "[01]",
        "",
    ],
)
def test_steps_parse_the_edge_cases_as_json_loads(text):
    for window in (1, 2, 3, 5, 64):
        assert outcome(lambda t, w=window: json_steps.loads(t, w), text) == outcome(reference, text)


def test_steps_parse_a_deep_document_to_its_limit():
    depth = json_steps.MAX_DEPTH
    assert json_steps.loads("[" * depth + "]" * depth, 8) == json.loads("[" * depth + "]" * depth)
    with pytest.raises(RecursionError):
        json_steps.loads("[" * (depth + 1) + "]" * (depth + 1), 8)


@pytest.mark.parametrize("body", ["é😀 ab".encode() * 300_000, b"\xff", b"ab\xc3", b"a\xc3(b"])
def test_utf8_in_steps_decodes_or_refuses_as_decode_does(body, monkeypatch):
    monkeypatch.setattr(json_steps, "UTF8_STEP", 7)
    try:
        expected: Any = body.decode("utf-8")
    except UnicodeDecodeError as err:
        expected = (err.reason, err.start)
    try:
        got: Any = json_steps.decode_utf8(body)
    except UnicodeDecodeError as err:
        got = (err.reason, err.start)
    assert got == expected


FINITE_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=FINITE_JSON)
def test_packed_inputs_read_back_as_they_were(value):
    inputs = {"x": value, "big": list(range(json_pack.STEP + 3))}
    packed = json_pack.pack(inputs)
    assert json.loads(b"".join(packed.pieces)) == inputs
    message = json_pack.message({"comm_id": "c", "data": protocol.infer("r", "m", packed, (1, 2))})  # type: ignore[arg-type]
    assert json.loads(bytes(message))["data"]["inputs"] == inputs


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "\ud800", "a\udc80", {1: 2}])
def test_packing_is_strict(bad):
    with pytest.raises(ValueError):
        json_pack.pack({"x": [1, bad]})
    if not isinstance(bad, dict):  # json.dumps writes a number key as a string
        with pytest.raises(ValueError):
            json_pack.dumps({"x": bad})


def test_a_prepared_message_is_what_the_session_and_jupyter_server_would_send():
    session = Session(key=b"secret", username="u")
    packed = json_pack.pack({"x": list(range(40_000))})
    data = protocol.infer("r1", "m", packed, (5, 6))  # type: ignore[arg-type]
    parts = prepared.comm_msg_parts(session, "comm-1", "sub-1", data)
    frames = prepared.zmq_frames(session, parts)
    message = session.deserialize([bytes(frame) for frame in frames[1:]])  # checks the signature
    assert message["header"]["subshell_id"] == "sub-1"
    assert message["content"] == {
        "comm_id": "comm-1",
        "data": {
            "op": "infer",
            "protocol": protocol.constants.PROTOCOL_VERSION,
            "rid": "r1",
            "model": "m",
            "inputs": {"x": list(range(40_000))},
            "credit": [5, 6],
        },
    }
    on_websocket = bytes(prepared.ws_v1("shell", parts))
    assert on_websocket == serialize_msg_to_ws_v1([bytes(part) for part in parts], "shell")
    assert deserialize_msg_from_ws_v1(on_websocket)[0] == "shell"
    with pytest.raises(ConnectionError):
        prepared.comm_msg_parts(session, None, None, data)
