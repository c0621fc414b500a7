"""The server's frame receiver as tables: sequence, gaps and resends, credit (kernels/frames.py)."""

from __future__ import annotations

import json

import pytest

from jupyter_inferless.protocol import (
    ErrorKind,
    FrameMessage,
    ProtocolError,
    Run,
    ack,
    decode_from_kernel,
    frame,
    run,
)
from jupyter_inferless.server.kernels.frames import FrameReceiver, RunEvents

WINDOW = (8, 800)  # events, bytes: a quarter is 2 events or 200 bytes


def a_frame(seq: int, *runs: Run) -> FrameMessage:
    """A frame as the bridge hands it on: through JSON, then decoded."""
    decoded = decode_from_kernel(json.loads(json.dumps(frame(seq, list(runs)))))
    assert decoded["op"] == "frame"
    return decoded


def events(rid: str, count: int, ended: bool = False) -> Run:
    made = run(rid)
    made["events"], made["ended"] = count, ended
    return made


@pytest.mark.parametrize(
    ("arrivals", "taken", "resend_asked_at"),
    [
        pytest.param([1, 2, 3], [1, 2, 3], [], id="in order"),
        pytest.param([1, 1, 2, 2, 3], [1, 2, 3], [], id="duplicates are ignored"),
        pytest.param([1, 2, 1, 2, 3], [1, 2, 3], [], id="a resend of frames already taken"),
        pytest.param([2, 3], [], [2], id="the first frame lost"),
        pytest.param([1, 3, 4, 5], [1], [3], id="a gap asks once, not for every later frame"),
        pytest.param([1, 3, 4, 2, 3, 4, 5], [1, 2, 3, 4, 5], [3], id="the resend fills the gap"),
        pytest.param([1, 3, 2, 3, 5, 4, 5], [1, 2, 3, 4, 5], [3, 5], id="a second gap asks again"),
        pytest.param([1, 3, 3, 3], [1], [3], id="still one ask while the gap stays open"),
    ],
)
def test_sequence(arrivals: list[int], taken: list[int], resend_asked_at: list[int]) -> None:
    receiver = FrameReceiver(WINDOW)
    took, asked = [], []
    for seq in arrivals:
        received = receiver.receive(a_frame(seq), [])
        if received.ack_soon:
            took.append(seq)
        if received.resend_now:
            asked.append(seq)
        assert not (received.ack_soon and received.resend_now)
    assert (took, asked) == (taken, resend_asked_at)
    assert receiver.seq == (taken[-1] if taken else 0)


@pytest.mark.parametrize(
    ("runs", "buffer", "expected"),
    [
        pytest.param(
            [events("a", 2), events("b", 1), events("a", 1)],
            b'{"i":0}\n{"i":1}\n{"j":0}\n{"i":2}\n',
            [
                RunEvents("a", [b'{"i":0}', b'{"i":1}'], False, None),
                RunEvents("b", [b'{"j":0}'], False, None),
                RunEvents("a", [b'{"i":2}'], False, None),
            ],
            id="interleaved runs share one buffer, in order",
        ),
        pytest.param(
            [events("a", 1, ended=True)],
            b"{}\n",
            [RunEvents("a", [b"{}"], True, None)],
            id="a clean end",
        ),
        pytest.param(
            [
                {
                    **events("a", 0, ended=True),
                    "error": {"kind": "cancelled", "type": "", "message": "x"},
                }
            ],
            b"",
            [RunEvents("a", [], True, {"kind": ErrorKind.CANCELLED, "type": "", "message": "x"})],
            id="an end with an error keeps its kind",
        ),
    ],
)
def test_runs(runs: list[Run], buffer: bytes, expected: list[RunEvents]) -> None:
    received = FrameReceiver(WINDOW).receive(a_frame(1, *runs), [buffer] if buffer else [])
    assert received.runs == expected
    assert all(isinstance(r.error["kind"], ErrorKind) for r in received.runs if r.error)
    as_text = frame(1, list(runs), buffer.decode())  # a text frame (gateway links)
    assert FrameReceiver(WINDOW).receive(as_text, []).runs == expected


@pytest.mark.parametrize(
    ("delivered", "grants"),
    [
        pytest.param([(0, 0)], [None], id="nothing delivered, nothing owed"),
        pytest.param([(1, 199)], [None], id="under a quarter of both"),
        pytest.param([(2, 0)], [[2, 0]], id="a quarter of the events"),
        pytest.param([(0, 200)], [[0, 200]], id="a quarter of the bytes"),
        pytest.param([(1, 250)], [[1, 250]], id="either quarter grants both"),
        pytest.param([(8, 800)], [[8, 800]], id="a whole window"),
        pytest.param(
            [(2, 0), (3, 0), (4, 0)], [[2, 0], None, [2, 0]], id="counted from the last grant"
        ),
        pytest.param([(2, 0), (2, 0)], [[2, 0], None], id="granted once"),
    ],
)
def test_credit(delivered: list[tuple[int, int]], grants: list[list[int] | None]) -> None:
    receiver = FrameReceiver(WINDOW)
    assert receiver.open("a") == WINDOW
    got = []
    for events_done, bytes_done in delivered:
        wanted = receiver.wants_grant("a", events_done, bytes_done)
        credit = receiver.ack({"a": (events_done, bytes_done)})["credit"]
        assert wanted == ("a" in credit)
        got.append(credit.get("a"))
    assert got == grants


def test_a_kind_this_version_does_not_know_is_refused_by_the_decoder() -> None:
    error = {"kind": "new_kind", "type": "", "message": "m"}
    ended = {**events("a", 0, ended=True), "error": error}
    with pytest.raises(ProtocolError, match=r"field 'runs\[0\]\.error\.kind' must be one of"):
        a_frame(1, ended)  # type: ignore[arg-type]


def test_an_ack_names_the_last_frame_taken_and_only_requests_owed_credit() -> None:
    receiver = FrameReceiver(WINDOW)
    for rid in ("a", "b", "c"):
        receiver.open(rid)
    receiver.receive(a_frame(1), [])
    receiver.receive(a_frame(2), [])
    receiver.receive(a_frame(4), [])
    receiver.close("c")
    sent = receiver.ack({"a": (4, 0), "b": (1, 0), "c": (8, 800)}, resend=True)
    assert sent == ack(2, {"a": [4, 0]}, resend=True)


def test_a_new_link_starts_again() -> None:
    receiver = FrameReceiver(WINDOW)
    receiver.open("a")
    receiver.receive(a_frame(1), [])
    receiver.receive(a_frame(3), [])
    receiver.reset()
    assert (receiver.seq, receiver.resend_asked, receiver.granted) == (0, False, {})
    assert not receiver.wants_grant("a", 8, 800)
    assert receiver.receive(a_frame(1), []).ack_soon
