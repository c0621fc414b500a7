"""The SSE wire format, and nothing else.

Every event is ``id: N`` then ``data: <one line of JSON>``. The kernel emits each
output as a single JSON line (json.dumps escapes newlines), so data never spans
lines. Ids and comments are stripped of CR and LF so they cannot break framing.
"""

from __future__ import annotations

import json

HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


def event(event_id: int, data: bytes) -> bytes:
    """One event whose data is a single line of JSON."""
    return b"id: %d\ndata: %s\n\n" % (event_id, data)


def events(first_id: int, lines: list[bytes]) -> bytes:
    """Consecutive events starting at ``first_id``, as one chunk."""
    return b"".join(b"id: %d\ndata: %s\n\n" % (first_id + n, line) for n, line in enumerate(lines))


def error_event(event_id: int, message: str) -> bytes:
    """The in-band error that ends a stream after its 200 was sent."""
    return event(event_id, json.dumps({"error": message}).encode())


def retry(milliseconds: int) -> bytes:
    """The reconnection delay hint."""
    return b"retry: %d\n\n" % milliseconds


def comment(text: str = "") -> bytes:
    """A comment line (heartbeat); plain readers ignore it."""
    clean = text.replace("\r", " ").replace("\n", " ")
    return f": {clean}\n\n".encode() if clean else b":\n\n"
