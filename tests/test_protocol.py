"""The comm protocol's builders and error kinds as tables (jupyter_inferless/protocol.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jupyter_inferless import protocol
from jupyter_inferless.protocol import ErrorKind, parse_run_error, run_error, run_error_from


@pytest.mark.parametrize(
    ("kind", "detail", "message"),
    [
        (ErrorKind.CANCELLED, "the request was cancelled", "cancelled: the request was cancelled"),
        (ErrorKind.KERNEL_GONE, "the kernel died", "KernelGone: the kernel died"),
        (ErrorKind.SERVER_SHUTDOWN, "bye", "ServerShutdown: bye"),
        (ErrorKind.MODEL_NOT_FOUND, "no model 'x'", "ModelNotFound: no model 'x'"),
        (ErrorKind.INPUT_ERROR, "inputs must be an object", "InputError: inputs must be an object"),
        (ErrorKind.EVENTS_EVICTED, "gone", "EventsEvicted: gone"),
        (ErrorKind.MODEL_ERROR, "as is", "as is"),
    ],
)
def test_run_error_text(kind: ErrorKind, detail: str, message: str) -> None:
    assert run_error(kind, detail) == {"kind": kind, "message": message}


@pytest.mark.parametrize(
    ("error", "kind", "expected"),
    [
        (RuntimeError("boom"), ErrorKind.MODEL_ERROR, "RuntimeError: boom"),
        (ValueError("bad <weights>"), ErrorKind.MODEL_ERROR, "ValueError: bad <weights>"),
        (TypeError("key 'x' is new"), ErrorKind.OUTPUT_ERROR, "TypeError: key 'x' is new"),
    ],
)  # fmt: skip
def test_run_error_from_an_exception(error: Exception, kind: ErrorKind, expected: str) -> None:
    assert run_error_from(error, kind) == {"kind": kind, "message": expected}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ({"kind": "kernel_gone", "message": "x"}, (ErrorKind.KERNEL_GONE, "x")),
        ({"kind": "from_the_future", "message": "m"}, (ErrorKind.MODEL_ERROR, "m")),
        ({"message": "m"}, (ErrorKind.MODEL_ERROR, "m")),
    ],
)  # fmt: skip
def test_parse_run_error(raw: Any, expected: tuple[ErrorKind, str] | None) -> None:
    parsed = parse_run_error(raw)
    assert (parsed and (parsed["kind"], parsed["message"])) == expected
    assert parsed is None or type(parsed["kind"]) is ErrorKind


def test_a_watch_ends_with_its_error_kind_as_a_value() -> None:
    error = run_error(ErrorKind.CANCELLED, "x")
    wire = json.loads(json.dumps(protocol.watched("v", "r", [], ended=True, error=error)))
    assert wire["ended"] and wire["error"] == {"kind": "cancelled", "message": "cancelled: x"}


def test_no_credential_travels_to_the_kernel() -> None:
    assert set(protocol.open_data("http://h/", text_frames=True)) == {
        "protocol",
        "server_url",
        "text_frames",
        "backlog",
    }


def test_kinds_travel_as_their_values() -> None:
    ended = {**protocol.run("r"), "ended": True, "error": run_error(ErrorKind.CANCELLED, "x")}
    wire = json.loads(json.dumps(protocol.frame(7, [ended])))
    assert wire == {
        "op": "frame",
        "seq": 7,
        "runs": [
            {
                "rid": "r",
                "events": 0,
                "ended": True,
                "error": {"kind": "cancelled", "message": "cancelled: x"},
            }
        ],
    }
    assert [kind.value for kind in ErrorKind] == [
        "model_error",
        "output_error",
        "cancelled",
        "kernel_gone",
        "server_shutdown",
        "model_not_found",
        "input_error",
        "events_evicted",
    ]


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        (
            protocol.open_data("http://h/"),
            {
                "protocol": protocol.PROTOCOL_VERSION,
                "server_url": "http://h/",
                "text_frames": False,
                "backlog": [
                    protocol.DEFAULT_REQUEST_BACKLOG_BYTES,
                    protocol.DEFAULT_BACKLOG_BYTES,
                ],
            },
        ),
        (
            protocol.open_data("http://h/", backlog=(10, 20)),
            {
                "protocol": protocol.PROTOCOL_VERSION,
                "server_url": "http://h/",
                "text_frames": False,
                "backlog": [10, 20],
            },
        ),
        (
            protocol.infer("r", "m", {"n": 1}, (16, 1024)),
            {"op": "infer", "rid": "r", "model": "m", "inputs": {"n": 1}, "credit": [16, 1024]},
        ),
        (
            protocol.ack(3, {"r": [4, 0]}, resend=True),
            {"op": "ack", "seq": 3, "credit": {"r": [4, 0]}, "resend": True},
        ),
        (protocol.cancel("r"), {"op": "cancel", "rid": "r"}),
        (
            protocol.batch([protocol.cancel("r"), protocol.cancel("s")]),
            {
                "op": "batch",
                "messages": [{"op": "cancel", "rid": "r"}, {"op": "cancel", "rid": "s"}],
            },
        ),
        (
            protocol.replicas({"m": protocol.verdict(3, 2, None)}),
            {"op": "replicas", "models": {"m": {"generation": 3, "replicas": 2, "refused": None}}},
        ),
        (
            protocol.announce("rt"),
            {"op": "announce", "runtime": "rt", "protocol": protocol.PROTOCOL_VERSION},
        ),
        (protocol.hello("rt", []), {"op": "hello", "runtime": "rt", "models": []}),
        (protocol.models_changed("rt", []), {"op": "models", "runtime": "rt", "models": []}),
        (
            protocol.watch("v", "m", {"n": 1}),
            {"op": "watch", "vid": "v", "model": "m", "inputs": {"n": 1}},
        ),
        (protocol.unwatch("v"), {"op": "unwatch", "vid": "v"}),
        (protocol.list_models("q"), {"op": "list", "qid": "q"}),
        (
            protocol.watched("v", "r", ['{"OUT": "a"}']),
            {
                "op": "watched",
                "vid": "v",
                "rid": "r",
                "lines": ['{"OUT": "a"}'],
                "ended": False,
                "error": None,
                "refused": None,
            },
        ),
        (
            protocol.watched("v", "", [], refused=protocol.refusal(404, "no model 'x'")),
            {
                "op": "watched",
                "vid": "v",
                "rid": "",
                "lines": [],
                "ended": True,
                "error": None,
                "refused": {"status": 404, "message": "no model 'x'"},
            },
        ),
        (
            protocol.listed("q", [{"name": "m"}]),
            {"op": "listed", "qid": "q", "models": [{"name": "m"}]},
        ),
    ],
)
def test_messages(made: dict[str, Any], expected: dict[str, Any]) -> None:
    assert made == expected
    assert json.loads(json.dumps(made)) == expected
