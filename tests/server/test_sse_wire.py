"""The SSE wire format as tables of input and expected bytes (server/http/sse.py)."""

from __future__ import annotations

import pytest

from jupyter_inferless.server.http import sse

RID = "9f" * 16


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        pytest.param(sse.event(3, b'{"a":1}'), b'id: 3\ndata: {"a":1}\n\n', id="event"),
        pytest.param(sse.event("r:0", b"{}"), b"id: r:0\ndata: {}\n\n", id="event-str-id"),
        pytest.param(
            sse.events(RID, 5, [b'{"OUT":"a"}', b'{"OUT":"b"}']),
            f'id: {RID}:5\ndata: {{"OUT":"a"}}\n\nid: {RID}:6\ndata: {{"OUT":"b"}}\n\n'.encode(),
            id="events-number-on",
        ),
        pytest.param(sse.events(RID, 0, []), b"", id="no-events"),
        pytest.param(
            sse.error_event(RID, 2, 'RuntimeError: "x"\nline', "model_error", "RuntimeError"),
            f'id: {RID}:2\ndata: {{"error": "RuntimeError: \\"x\\"\\nline", '
            f'"kind": "model_error", "type": "RuntimeError"}}\n\n'.encode(),
            id="error-stays-one-line",
        ),
        pytest.param(
            sse.error_event(
                RID, 0, "cancelled: the request was cancelled", "cancelled", "cancelled"
            ),
            f'id: {RID}:0\ndata: {{"error": "cancelled: the request was cancelled", '
            f'"kind": "cancelled", "type": "cancelled"}}\n\n'.encode(),
            id="error-text-then-kind",
        ),
        pytest.param(sse.id_only(RID, -1), f"id: {RID}:-1\n\n".encode(), id="id-only"),
        pytest.param(sse.retry(2000), b"retry: 2000\n", id="retry-is-a-lone-line"),
        pytest.param(sse.heartbeat(), b":\n", id="heartbeat-is-a-lone-comment"),
    ],
)
def test_encoded_bytes(made: bytes, expected: bytes) -> None:
    assert made == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{RID}:0", (RID, 0)),
        (f"{RID}:41", (RID, 41)),
        (f"{RID}:-1", (RID, -1)),
        (f" {RID}:7 ", (RID, 7)),
        ("12", (None, 12)),
        ("-1", (None, -1)),
        ("a:b:3", ("a:b", 3)),
    ],
)
def test_event_ids_parse(text: str, expected: tuple[str | None, int]) -> None:
    assert sse.parse_event_id(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", ":3", "abc", f"{RID}:", f"{RID}:x", f"{RID}:-2", "+5", "1_000", f"{RID}:1.5", "9" * 5000],
)
def test_ids_this_server_never_sent_are_refused(text: str) -> None:
    with pytest.raises(sse.EventIdError):
        sse.parse_event_id(text)


def test_ids_round_trip() -> None:
    for position in (-1, 0, 1, 99, 123456):
        assert sse.parse_event_id(sse.event_id(RID, position)) == (RID, position)


def test_no_block_but_an_event_ends_with_a_blank_line() -> None:
    """Regression: httpx-sse yielded a data-less event for the retry block and heartbeats."""
    start = sse.retry(500) + sse.heartbeat() + sse.heartbeat()
    assert b"\n\n" not in start
    body = start + sse.events(RID, 0, [b"{}"]) + sse.heartbeat() + sse.events(RID, 1, [b"{}"])
    blocks = [block for block in body.split(b"\n\n") if block]
    assert all(b"\ndata: " in block or block.startswith(b"data: ") for block in blocks), blocks
