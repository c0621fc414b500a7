"""The comm protocol as tables (jupyter_inferless/protocol/): the builders, the run errors,
and the decoders, which take every message type built by its builder and refuse it with a
missing field, a field of the wrong type, an unknown op and another protocol version,
naming the field or both versions."""

from __future__ import annotations

import copy
import json
import re
import typing
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_inferless import protocol
from jupyter_inferless.protocol import (
    IN_BAND,
    ErrorKind,
    ProtocolError,
    VersionMismatch,
    decode_from_kernel,
    decode_from_server,
    decode_open,
    run_error,
    run_error_from,
)
from jupyter_inferless.protocol.constants import mismatch
from jupyter_inferless.protocol.decode import FROM_KERNEL, FROM_SERVER, op_of

V = protocol.constants.PROTOCOL_VERSION
SCHEMA = {
    "inputs": [{"name": "n", "datatype": "INT32", "shape": [1], "required": True}],
    "streaming": True,
    "declared": True,
}
DESCRIPTION = protocol.model_description(
    name="m",
    class_name="M",
    source="cell",
    schema=SCHEMA,
    streaming=True,
    device={"device": "cpu"},
    max_concurrency=2,
    queue_size=0,
    notes=[],
    generation=3,
)
ENDED = {
    **protocol.run("r"),
    "events": 1,
    "ended": True,
    "error": run_error(ErrorKind.CANCELLED, "x"),
}
FROM_THE_KERNEL = [
    protocol.announce("rt", {"m": 3}),
    protocol.hello("rt", [DESCRIPTION]),
    protocol.models_changed("rt", [DESCRIPTION]),
    protocol.frame(4, [ENDED], text='{"a": 1}\n'),  # type: ignore[list-item]
    protocol.watch("v", "m", {"n": 1}),
    protocol.unwatch("v"),
    protocol.list_models("q"),
]
FROM_THE_SERVER = [
    protocol.infer("r", "m", {"n": 1}, (16, 1024)),
    protocol.ack(3, {"r": [4, 0]}, resend=True),
    protocol.cancel("r"),
    protocol.replicas({"m": protocol.verdict(3, 2, None)}),
    protocol.refused("another version", {"m": 3}),
    protocol.watched(
        "v", "r", ['{"a": 1}'], ended=True, error=run_error(ErrorKind.MODEL_ERROR, "x")
    ),
    protocol.watched(
        "v", "", [], refused=protocol.refusal(404, ErrorKind.MODEL_NOT_FOUND, "no model 'x'")
    ),
    protocol.listed("q", [{"name": "m"}]),
    protocol.batch([protocol.infer("r", "m", {}, (1, 2)), protocol.cancel("s")]),
]
MESSAGES = [("kernel", m) for m in FROM_THE_KERNEL] + [("server", m) for m in FROM_THE_SERVER]
DECODE = {"kernel": decode_from_kernel, "server": decode_from_server}
TYPES = {op_of(kind): kind for kind in (*FROM_KERNEL, *FROM_SERVER)}


def wire(message: Any) -> Any:
    """What the other side receives: the message through JSON."""
    return json.loads(json.dumps(message))


def fields(kind: Any, value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every field a message's TypedDict ``kind`` declares, at any depth: its path, and the
    TypedDict that declares it (None: an item of a list, or a value of a dict)."""
    for name, hint in typing.get_type_hints(kind).items():
        if name in value:
            where = f"{path}.{name}" if path else name
            yield where, kind
            yield from _inner(hint, value[name], where)


def _inner(hint: Any, value: Any, path: str) -> Iterator[tuple[str, Any]]:
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    origin = typing.get_origin(hint)
    if typing.is_typeddict(hint) and isinstance(value, dict):
        yield from fields(hint, value, path)
    elif origin is list and args[0] is not Any:
        for index, item in enumerate(value):
            yield f"{path}[{index}]", None
            if isinstance(item, dict) and "op" in item:  # a message of a batch
                yield from fields(TYPES[item["op"]], item, f"{path}[{index}]")
            else:
                yield from _inner(args[0], item, f"{path}[{index}]")
    elif origin is dict and args[1] is not Any:
        for key, item in value.items():
            yield f"{path}.{key}", None
            yield from _inner(args[1], item, f"{path}.{key}")
    elif len(args) == 1 and value is not None:  # X | None
        yield from _inner(args[0], value, path)


def at(message: Any, path: str) -> tuple[Any, Any]:
    """What holds the field at ``path`` in ``message`` (a dict or a list), and its key."""
    steps = [int(s[1:-1]) if s.startswith("[") else s for s in re.split(r"\.|(?=\[)", path)]
    holder = message
    for step in steps[:-1]:
        holder = holder[step]
    return holder, steps[-1]


def case_id(case: tuple[str, Any]) -> str:
    return f"{case[0]}-{case[1]['op']}"


@pytest.mark.parametrize("case", MESSAGES, ids=[case_id(case) for case in MESSAGES])
def test_every_message_decodes_as_it_was_built(case: tuple[str, Any]) -> None:
    side, message = case
    assert DECODE[side](wire(message)) == message


def variants(side: str, message: Any) -> Iterator[tuple[str, str, Any]]:
    """(what, field, bad message) for each field: missing, then of a wrong type."""
    for path, kind in fields(TYPES[message["op"]], message):
        if kind is not None and path.rsplit(".", 1)[-1] in kind.__required_keys__:
            broken = copy.deepcopy(message)
            inner, name = at(broken, path)
            del inner[name]
            yield "missing", path, broken
        broken = copy.deepcopy(message)
        inner, name = at(broken, path)
        inner[name] = "seven" if isinstance(inner[name], (int, list, dict)) else 7
        yield "wrong type", path, broken


BROKEN = [
    pytest.param(side, path, bad, id=f"{side}-{message['op']}-{what}-{path}")
    for side, message in MESSAGES
    for what, path, bad in variants(side, message)
]


@pytest.mark.parametrize(("side", "path", "bad"), BROKEN)
def test_a_missing_or_mistyped_field_is_refused_naming_it(side: str, path: str, bad: Any) -> None:
    with pytest.raises(ProtocolError) as refused:
        DECODE[side](wire(bad))
    assert not isinstance(refused.value, VersionMismatch)
    assert refused.value.field == path and f"field {path!r}" in str(refused.value)
    op = bad.get("op") if isinstance(bad.get("op"), str) else None
    assert refused.value.op == op
    what = f"{op!r} message" if op else "message"
    assert str(refused.value).startswith(f"bad {what} from the {side}: ")


def test_the_tables_reach_nested_fields() -> None:
    paths = {path for _, path, _ in (v for s, m in MESSAGES for v in variants(s, m))}
    assert {"runs[0].error.kind", "models[0].schema.inputs[0].shape[0]", "messages[1].rid"} <= paths
    assert {"models.m.refused", "credit.r", "credit.r[1]", "refused.status", "models.m"} <= paths


@pytest.mark.parametrize("case", MESSAGES, ids=[case_id(case) for case in MESSAGES])
def test_an_unknown_op_is_refused_naming_it(case: tuple[str, Any]) -> None:
    side, message = case
    with pytest.raises(ProtocolError, match=r"field 'op' must be one of .*, not 'gone'") as refused:
        DECODE[side](wire({**message, "op": "gone"}))
    assert refused.value.field == "op"


@pytest.mark.parametrize("case", MESSAGES, ids=[case_id(case) for case in MESSAGES])
def test_another_protocol_version_is_refused_naming_both(case: tuple[str, Any]) -> None:
    side, message = case
    for other in (V - 1, V + 1):
        with pytest.raises(VersionMismatch) as refused:
            DECODE[side](wire({**message, "protocol": other}))
        kernel, server = (other, V) if side == "kernel" else (V, other)
        assert str(refused.value) == mismatch(kernel, server)
        assert f"protocol {kernel}" in str(refused.value) and f"protocol {server}" in str(
            refused.value
        )
        stable = refused.value.announced or refused.value.refused
        assert (stable is not None) == (message["op"] in ("announce", "refused"))
        if stable is not None:  # read all the same: the models another version refuses
            assert stable["models"] == message["models"]


def test_the_version_is_read_before_anything_else() -> None:
    with pytest.raises(VersionMismatch):
        decode_from_kernel({"op": "a future op", "protocol": V + 1, "runtime": 7})
    with pytest.raises(ProtocolError, match="field 'protocol' is missing"):
        decode_from_kernel({"op": "frame", "seq": 1, "runs": []})
    with pytest.raises(ProtocolError, match="field 'protocol' must be an integer"):
        decode_from_kernel({**protocol.unwatch("v"), "protocol": True})


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        ([], "bad message from the kernel: must be an object, not a list"),
        (None, "bad message from the kernel: must be an object, not null"),
        ({**protocol.frame(1, []), "seq": -1}, "field 'seq' must be at least 0, not -1"),
        ({**protocol.frame(1, [{**protocol.run("r"), "events": True}])}, "runs[0].events' must be an integer, not true or false"),  # noqa: E501
        ({**protocol.announce("rt", {}), "models": {"m": "1"}}, "field 'models.m' must be an integer, not a string"),  # noqa: E501
        ({**protocol.watch("v", "m", {}), "inputs": [1]}, "field 'inputs' must be an object, not a list"),  # noqa: E501
    ],
)  # fmt: skip
def test_refusals_say_what_is_wrong(data: Any, refusal: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        decode_from_kernel(data)
    assert refusal in str(refused.value)


@pytest.mark.parametrize(
    ("batched", "refusal"),
    [
        ([protocol.batch([])], "field 'messages[0].op' must be one of"),
        ([{**protocol.cancel("r"), "protocol": V + 1}], "field 'messages[0].protocol' must be"),
        ([protocol.cancel("r"), {**protocol.ack(1, {}), "credit": {"r": [1]}}], "field 'messages[1].credit.r' must have 2 items, not 1"),  # noqa: E501
        ([protocol.cancel("r"), {**protocol.ack(1, {}), "credit": {"r": [1, -2]}}], "'messages[1].credit.r' must be at least 0, not -2"),  # noqa: E501
    ],
)  # fmt: skip
def test_a_batch_holds_server_messages_of_its_version(batched: list[Any], refusal: str) -> None:
    with pytest.raises(ProtocolError, match="bad 'batch' message from the server") as refused:
        decode_from_server(wire({**protocol.batch([]), "messages": batched}))
    assert refusal in str(refused.value)


def test_the_open_data_is_checked_and_its_version_first() -> None:
    data = protocol.open_data("http://h/", text_frames=True, backlog=(10, 20))
    assert decode_open(wire(data)) == data
    with pytest.raises(VersionMismatch, match=f"kernel's .* protocol {V}, .* protocol {V + 1}"):
        decode_open({"protocol": V + 1})
    for field in data:
        with pytest.raises(ProtocolError, match=f"bad 'comm_open' message .* field {field!r}"):
            decode_open({key: value for key, value in data.items() if key != field})
    with pytest.raises(ProtocolError, match="field 'backlog' must have 2 items"):
        decode_open({**data, "backlog": [1]})


def test_a_comm_message_without_data_is_refused() -> None:
    assert protocol.comm_data({"content": {"data": {"x": 1}}}) == {"x": 1}
    for msg in ({}, {"content": {}}, {"content": []}, None):
        with pytest.raises(ProtocolError, match=r"field 'content\.data' is missing"):
            protocol.comm_data(msg)


def test_complaints_are_told_once_per_kind() -> None:
    complaints = protocol.Complaints(limit=2)
    first = ProtocolError("kernel", "frame", "seq", "is missing")
    assert complaints.first(first) and not complaints.first(first)
    assert complaints.first(ProtocolError("kernel", "frame", "runs", "is missing"))
    assert not complaints.first(ProtocolError("kernel", "hello", "runtime", "is missing"))


@pytest.mark.parametrize(
    ("kind", "detail", "type_", "message"),
    [
        (ErrorKind.CANCELLED, "by DELETE", "cancelled", "cancelled: by DELETE"),
        (ErrorKind.KERNEL_GONE, "the kernel died", "KernelGone", "KernelGone: the kernel died"),
        (ErrorKind.SERVER_SHUTDOWN, "bye", "ServerShutdown", "ServerShutdown: bye"),
        (ErrorKind.MODEL_NOT_FOUND, "no model 'x'", "ModelNotFound", "ModelNotFound: no model 'x'"),
        (ErrorKind.INPUT_ERROR, "not an object", "InputError", "InputError: not an object"),
        (ErrorKind.EVENTS_EVICTED, "gone", "EventsEvicted", "EventsEvicted: gone"),
        (ErrorKind.MODEL_ERROR, "as is", "", "as is"),
    ],
)  # fmt: skip
def test_run_error_text(kind: ErrorKind, detail: str, type_: str, message: str) -> None:
    assert run_error(kind, detail) == {"kind": kind, "type": type_, "message": message}


@pytest.mark.parametrize(
    ("error", "kind", "expected"),
    [
        (RuntimeError("boom"), ErrorKind.MODEL_ERROR, "RuntimeError: boom"),
        (ValueError("bad <weights>"), ErrorKind.MODEL_ERROR, "ValueError: bad <weights>"),
        (TypeError("key 'x' is new"), ErrorKind.OUTPUT_ERROR, "TypeError: key 'x' is new"),
    ],
)  # fmt: skip
def test_run_error_from_an_exception(error: Exception, kind: ErrorKind, expected: str) -> None:
    named = type(error).__name__
    assert run_error_from(error, kind) == {"kind": kind, "type": named, "message": expected}


def test_kinds_travel_as_their_values_and_come_back_as_kinds() -> None:
    sent = wire(protocol.frame(7, [ENDED]))  # type: ignore[list-item]
    sent_error = {"kind": "cancelled", "type": "cancelled", "message": "cancelled: x"}
    assert sent["runs"][0]["error"] == sent_error
    (received,) = decode_from_kernel(sent)["runs"]  # type: ignore[typeddict-item]
    assert received["error"]["kind"] is ErrorKind.CANCELLED
    assert [kind.value for kind in ErrorKind] == [
        "model_error",
        "output_error",
        "cancelled",
        "kernel_gone",
        "server_shutdown",
        "model_not_found",
        "input_error",
        "events_evicted",
        "bad_request",
        "model_streams",
        "not_found",
        "forbidden",
        "method_not_allowed",
        "too_large",
        "busy",
        "kernel_unavailable",
        "internal_error",
    ]
    assert list(IN_BAND) == list(ErrorKind)[:8]  # a run ends with one of the first eight


def test_no_credential_travels_to_the_kernel() -> None:
    assert set(protocol.open_data("http://h/", text_frames=True)) == {
        "protocol",
        "server_url",
        "text_frames",
        "backlog",
    }


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        (protocol.open_data("http://h/"), {"protocol": V, "server_url": "http://h/", "text_frames": False, "backlog": [protocol.DEFAULT_REQUEST_BACKLOG_BYTES, protocol.DEFAULT_BACKLOG_BYTES]}),  # noqa: E501
        (protocol.open_data("http://h/", backlog=(10, 20)), {"protocol": V, "server_url": "http://h/", "text_frames": False, "backlog": [10, 20]}),  # noqa: E501
        (protocol.infer("r", "m", {"n": 1}, (16, 1024)), {"op": "infer", "protocol": V, "rid": "r", "model": "m", "inputs": {"n": 1}, "credit": [16, 1024]}),  # noqa: E501
        (protocol.ack(3, {"r": [4, 0]}, resend=True), {"op": "ack", "protocol": V, "seq": 3, "credit": {"r": [4, 0]}, "resend": True}),  # noqa: E501
        (protocol.cancel("r"), {"op": "cancel", "protocol": V, "rid": "r"}),
        (protocol.batch([protocol.cancel("r")]), {"op": "batch", "protocol": V, "messages": [{"op": "cancel", "protocol": V, "rid": "r"}]}),  # noqa: E501
        (protocol.replicas({"m": protocol.verdict(3, 2, None)}), {"op": "replicas", "protocol": V, "models": {"m": {"generation": 3, "replicas": 2, "refused": None}}}),  # noqa: E501
        (protocol.refused("why", {"m": 3}), {"op": "refused", "protocol": V, "reason": "why", "models": {"m": 3}}),  # noqa: E501
        (protocol.announce("rt", {"m": 3}), {"op": "announce", "protocol": V, "runtime": "rt", "models": {"m": 3}}),  # noqa: E501
        (protocol.hello("rt", []), {"op": "hello", "protocol": V, "runtime": "rt", "models": []}),
        (protocol.models_changed("rt", []), {"op": "models", "protocol": V, "runtime": "rt", "models": []}),  # noqa: E501
        (protocol.frame(2, [protocol.run("r")]), {"op": "frame", "protocol": V, "seq": 2, "runs": [{"rid": "r", "events": 0, "ended": False, "error": None}]}),  # noqa: E501
        (protocol.watch("v", "m", {"n": 1}), {"op": "watch", "protocol": V, "vid": "v", "model": "m", "inputs": {"n": 1}}),  # noqa: E501
        (protocol.unwatch("v"), {"op": "unwatch", "protocol": V, "vid": "v"}),
        (protocol.list_models("q"), {"op": "list", "protocol": V, "qid": "q"}),
        (protocol.watched("v", "r", ['{"OUT": "a"}']), {"op": "watched", "protocol": V, "vid": "v", "rid": "r", "lines": ['{"OUT": "a"}'], "ended": False, "error": None, "refused": None}),  # noqa: E501
        (protocol.watched("v", "", [], refused=protocol.refusal(404, ErrorKind.MODEL_NOT_FOUND, "no model 'x'")), {"op": "watched", "protocol": V, "vid": "v", "rid": "", "lines": [], "ended": True, "error": None, "refused": {"status": 404, "kind": "model_not_found", "message": "no model 'x'"}}),  # noqa: E501
        (protocol.listed("q", [{"name": "m"}]), {"op": "listed", "protocol": V, "qid": "q", "models": [{"name": "m"}]}),  # noqa: E501
    ],
)  # fmt: skip
def test_messages(made: dict[str, Any], expected: dict[str, Any]) -> None:
    assert made == expected
    assert wire(made) == expected


def test_the_tables_cover_every_message_type() -> None:
    assert {message["op"] for _, message in MESSAGES} == set(TYPES)
