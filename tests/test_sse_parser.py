"""The one SSE parser of the tests and the benchmarks (tests/support/sse_parser.py), as tables.

Every input is also fed split at every byte, and one byte at a time: an event, a comment or
a retry hint must come out the same however the chunks fall.
"""

from __future__ import annotations

import pytest

from tests.support.sse_parser import Event, SSEParser

TRICKY = (
    b"\xef\xbb\xbf: leading comment\n"
    b"retry: 1000\n\n"
    b"id: 0\r\ndata: a\r\n\r\n"
    b"id: 1\rdata: b\r\r"
    b"id:2\ndata:c\ndata:  d\nevent: x\n\n\n\n"
    b"id: 3\n: comment inside\ndata\n\n"
    b": ping\r\n\r\n"
    b'id: 4\r\ndata: {"k": 1}\r\n\r\n'
    b"id: 5\r\ndata: x\r\ndata: y\r\n\r"
)


def parse(pieces: list[bytes]) -> tuple[list[Event], int, int | None]:
    """The events, comment count and retry hint of a body fed in ``pieces``."""
    parser = SSEParser()
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    events += parser.close()
    return events, parser.comments, parser.retry


def splits(body: bytes) -> list[list[bytes]]:
    """``body`` whole, cut in two at every byte, and one byte at a time."""
    return [
        [body],
        *([body[:i], body[i:]] for i in range(len(body) + 1)),
        [body[i : i + 1] for i in range(len(body))],
    ]


@pytest.mark.parametrize(
    ("body", "events", "comments", "retry"),
    [
        pytest.param(
            TRICKY,
            [
                (b"0", b"a"),
                (b"1", b"b"),
                (b"2", b"c\n d"),
                (b"3", b""),
                (b"4", b'{"k": 1}'),
                (b"5", b"x\ny"),
            ],
            3,
            1000,
            id="bom-cr-lf-crlf-comments-unknown-fields-trailing-cr",
        ),
        pytest.param(
            b"retry: 500\n:\n:\nid: r:0\ndata: {}\n\n:\nid: r:1\ndata: {}\n\n:\n:\n",
            [(b"r:0", b"{}"), (b"r:1", b"{}")],
            5,
            500,
            id="this-servers-shape-heartbeats-after-the-last-event-count",
        ),
        pytest.param(
            b"id: r:0\ndata: a\n\ndata: b\n\nid: r:2\ndata: c\n\n",
            [(b"r:0", b"a"), (b"r:0", b"b"), (b"r:2", b"c")],
            0,
            None,
            id="the-last-id-holds-until-another",
        ),
        pytest.param(
            b"id: r:0\ndata: kept\n\nid: r:1\ndata: never ended\n",
            [(b"r:0", b"kept")],
            0,
            None,
            id="an-unterminated-event-is-dropped",
        ),
        pytest.param(
            b"id: a\0b\ndata: x\n\nretry: soon\ndata: y\n\n",
            [(b"", b"x"), (b"", b"y")],
            0,
            None,
            id="an-id-with-nul-and-a-retry-that-is-no-number-are-ignored",
        ),
        pytest.param(
            'data: {"OUT": "héllo ✓"}\n\n'.encode(),
            [(b"", '{"OUT": "héllo ✓"}'.encode())],
            0,
            None,
            id="utf-8-split-inside-a-character",
        ),
    ],
)
def test_parse(body: bytes, events: list[Event], comments: int, retry: int | None) -> None:
    for pieces in splits(body):
        assert parse(pieces) == (events, comments, retry), pieces
