"""The SSE wire format, and nothing else.

Every event is ``id: RID:N`` then ``data: <one line of JSON>`` and a blank line. The id
names the stream (its request id) and the event's position, so a client that reconnects
to the URL it first opened (the browser's EventSource does exactly that) says by its
``Last-Event-ID`` alone which stream to resume.

Only events end with a blank line. Some clients (httpx-sse) yield an event for every
blank-line-terminated block once they have seen an ``id:``, data or not, so the
``retry:`` hint is a lone line that the first event's blank line completes, and a
heartbeat is a lone comment line. The kernel emits each output as a single JSON line
(json.dumps escapes newlines), so data never spans lines.
"""

from __future__ import annotations

import json
import re

HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}

BEFORE_FIRST_EVENT = -1
"""The position a client that has seen no event resumes after (``RID:-1``)."""
_POSITION = re.compile(r"-?[0-9]{1,18}")  # ASCII digits only: int() reads other scripts' too


class EventIdError(ValueError):
    """A Last-Event-ID that this server never sent."""


def event_id(rid: str, position: int) -> str:
    """The id of the event at ``position`` of stream ``rid``."""
    return f"{rid}:{position}"


def parse_event_id(text: str) -> tuple[str | None, int]:
    """``(rid, position)`` of an event id; ``rid`` is None for a bare position ("17")."""
    rid, sep, position = text.strip().rpartition(":")
    if sep and not rid:
        raise EventIdError(f"event id {text[:80]!r} names no stream")
    if not _POSITION.fullmatch(position.strip()) or int(position) < BEFORE_FIRST_EVENT:
        raise EventIdError(f"{text[:80]!r} is not an event id of this server")
    number = int(position)
    return (rid or None), number


def event(ident: str | int, data: bytes) -> bytes:
    """One event whose data is a single line of JSON."""
    return b"id: %s\ndata: %s\n\n" % (str(ident).encode(), data)


def events(rid: str, first: int, lines: list[bytes]) -> bytes:
    """Consecutive events of stream ``rid`` starting at position ``first``, as one chunk."""
    prefix = rid.encode()
    return b"".join(
        b"id: %s:%d\ndata: %s\n\n" % (prefix, first + n, line) for n, line in enumerate(lines)
    )


def error_event(rid: str, position: int, message: str, kind: str, error_type: str) -> bytes:
    """The in-band error that ends a stream after its 200 was sent.

    ``error`` is the text Triton-style readers show; ``kind`` says why, for clients that
    act on it (an ErrorKind value: ``model_error``, ``cancelled``, ``kernel_gone``, ...);
    ``type`` is the exception's type (else the kind's label, or ""), which the text starts
    with, so that no client parses the text.
    """
    data = json.dumps({"error": message, "kind": kind, "type": error_type})
    return event(event_id(rid, position), data.encode())


def id_only(rid: str, position: int) -> bytes:
    """A block that only sets the last event id (browsers dispatch nothing for it)."""
    return b"id: %s\n\n" % event_id(rid, position).encode()


def retry(milliseconds: int) -> bytes:
    """The reconnection delay hint, as a lone line: the first event's blank line ends it."""
    return b"retry: %d\n" % milliseconds


def heartbeat() -> bytes:
    """A lone comment line: it keeps proxies from timing out, and no client yields it."""
    return b":\n"
