"""The one hand-written SSE parser, for the tests and the benchmarks.

The tests read it through sse_reader.py; the benchmarks through their _shared.py (which
puts this folder on their path). It follows the WHATWG rules: lines end in LF, CR or CRLF,
wherever a chunk splits them; a blank line dispatches an event (one with data); ``id``
sets the last event id, which later events keep until another ``id``; comment lines are
counted and the ``retry`` hint kept; other fields (``event``) are ignored. It works on
bytes, and is fast: a block that is exactly ``id: X`` + ``data: Y``, as servers usually
write it, takes one regular expression match.
"""

from __future__ import annotations

import re

#: Fast path for the common block shape "id: X" + "data: Y" (no NUL in the id).
_ID_DATA = re.compile(rb"id: ?([^\n\0]*)\ndata: ?([^\n]*)")
_BOM = b"\xef\xbb\xbf"

#: One parsed event: (last event id, data). Both are raw UTF-8 bytes.
Event = tuple[bytes, bytes]


class SSEParser:
    """Incremental SSE parser: feed body bytes, get the events each chunk completed.

    ``comments`` counts the comment lines (heartbeats) read so far and ``retry`` is the last
    ``retry:`` hint (None before one): lines count once their block is complete, or at
    ``close()``.
    """

    def __init__(self) -> None:
        self.comments = 0
        self.retry: int | None = None
        self._pending = b""
        self._first = True
        self._last_id = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[Event]:
        """Parse ``chunk`` and return the events completed by it."""
        buf = self._pending + chunk if self._pending else chunk
        if self._first and buf:
            buf = self._strip_bom(buf)
        if b"\r" in buf:
            buf = self._normalise(buf)
        blocks = buf.split(b"\n\n")
        self._pending = blocks.pop()
        events: list[Event] = []
        fast = _ID_DATA.fullmatch
        for block in blocks:
            if match := fast(block):
                self._last_id = match[1]
                events.append((self._last_id, match[2]))
            else:
                self._lines(block.split(b"\n"), events)
                self._dispatch(events)  # the blank line that ended the block
        return events

    def close(self) -> list[Event]:
        """End of stream: a trailing CR still ends a line; an unterminated event is dropped
        (its comments and retry hint still count)."""
        pending, self._pending = self._pending, b""
        if pending.endswith(b"\r"):
            pending = pending[:-1] + b"\n"
        events: list[Event] = []
        lines, newline, _unterminated = pending.rpartition(b"\n")
        if newline:
            self._lines(lines.split(b"\n"), events)
        self._data = []
        return events

    def _strip_bom(self, buf: bytes) -> bytes:
        if len(buf) < len(_BOM) and _BOM.startswith(buf):
            return buf  # could still be the start of a BOM; decide on the next feed
        self._first = False
        return buf[len(_BOM) :] if buf.startswith(_BOM) else buf

    @staticmethod
    def _normalise(buf: bytes) -> bytes:
        """Turn CRLF and lone CR into LF; a trailing CR is kept (its LF may follow)."""
        if buf.endswith(b"\r"):
            return buf[:-1].replace(b"\r\n", b"\n").replace(b"\r", b"\n") + b"\r"
        return buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    def _lines(self, lines: list[bytes], events: list[Event]) -> None:
        """Handle complete lines; a blank one dispatches the event they made."""
        data = self._data
        for line in lines:
            if not line:
                self._dispatch(events)
                data = self._data
                continue
            colon = line.find(b":")
            if colon == 0:
                self.comments += 1
                continue
            if colon < 0:
                field, value = line, b""
            else:
                field, value = line[:colon], line[colon + 1 :]
                if value[:1] == b" ":
                    value = value[1:]
            if field == b"data":
                data.append(value)
            elif field == b"id" and b"\0" not in value:
                self._last_id = value
            elif field == b"retry" and value.isdigit():
                self.retry = int(value)

    def _dispatch(self, events: list[Event]) -> None:
        if self._data:
            data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
            events.append((self._last_id, data))
            self._data = []
