"""Minimal, fast Server-Sent Events client over a raw asyncio TCP connection.

The client writes a hand-made HTTP/1.1 request (``Connection: close``), reads the
response head, undoes chunked transfer-encoding when present (otherwise reads an
identity body, delimited by Content-Length or by the server closing), and parses
the SSE stream with the tests' parser (tests/sse_parser.py, through _shared.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from _shared import Event, SSEParser

READ_SIZE = 65536
MAX_HEAD = 65536
#: Called with every batch of events parsed from one read; may raise to abort.
EventSink = Callable[[list[Event]], None]


class ByteSource(Protocol):
    """Anything with an asyncio.StreamReader-like ``read``."""

    async def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` bytes, or b"" at end of stream."""
        ...


class ProtocolError(Exception):
    """The server answered with something that is not a well-formed SSE response."""


class HttpStatusError(ProtocolError):
    """The server answered with a non-200 status."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:500].decode('utf-8', 'replace')}")
        self.status = status


class Dechunker:
    """Incremental decoder for HTTP/1.1 chunked transfer-encoding."""

    def __init__(self) -> None:
        self._buf = b""
        self._left = 0  # bytes of chunk data still expected
        self._crlf = False  # a chunk's data ended; its CRLF is expected next
        self.done = False  # the last (zero-size) chunk was seen

    def feed(self, data: bytes) -> bytes:
        """Return the body bytes carried by ``data``."""
        buf = self._buf + data if self._buf else data
        pos, end = 0, len(buf)
        out: list[bytes] = []
        while pos < end and not self.done:
            if self._left:
                stop = min(end, pos + self._left)
                out.append(buf[pos:stop])
                self._left -= stop - pos
                self._crlf = self._left == 0
                pos = stop
            elif self._crlf:
                if end - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise ProtocolError("chunk data not followed by CRLF")
                self._crlf = False
                pos += 2
            else:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                self._left = _chunk_size(buf[pos:eol])
                self.done = self._left == 0
                pos = eol + 2
        self._buf = buf[pos:]
        return out[0] if len(out) == 1 else b"".join(out)


def _chunk_size(line: bytes) -> int:
    try:
        return int(line.split(b";", 1)[0].strip(), 16)
    except ValueError:
        raise ProtocolError(f"bad chunk size line {line[:40]!r}") from None


@dataclass
class ResponseHead:
    """Status and lower-cased headers of an HTTP response."""

    status: int
    headers: dict[str, str]


def parse_head(raw: bytes) -> ResponseHead:
    """Parse a status line and headers (without the final blank line)."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"bad status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return ResponseHead(int(parts[1]), headers)


async def read_head(source: ByteSource) -> tuple[ResponseHead, bytes]:
    """Read the response head; return it and the body bytes that came with it."""
    buf = b""
    while (end := buf.find(b"\r\n\r\n")) < 0:
        if len(buf) > MAX_HEAD:
            raise ProtocolError("response head too large")
        data = await source.read(READ_SIZE)
        if not data:
            raise ProtocolError(f"connection closed before response head ({buf[:80]!r})")
        buf += data
    return parse_head(buf[:end]), buf[end + 4 :]


async def _read_rest(source: ByteSource, first: bytes, limit: int = 4096) -> bytes:
    buf = first
    while len(buf) < limit and (data := await source.read(READ_SIZE)):
        buf += data
    return buf


async def read_sse_body(source: ByteSource, sink: EventSink) -> ResponseHead:
    """Read one SSE response from ``source``, calling ``sink`` per batch of events.

    Returns when the body ends: the last chunk of a chunked body, Content-Length
    bytes of an identity body, or the server closing the connection.
    """
    head, data = await read_head(source)
    if head.status != 200:
        raise HttpStatusError(head.status, await _read_rest(source, data))
    ctype = head.headers.get("content-type", "")
    if not ctype.startswith("text/event-stream"):
        raise ProtocolError(f"content-type is {ctype!r}, not text/event-stream")
    chunked = "chunked" in head.headers.get("transfer-encoding", "").lower()
    length = int(head.headers.get("content-length", -1)) if not chunked else -1
    await _pump(source, sink, data, Dechunker() if chunked else None, length)
    return head


async def _pump(
    source: ByteSource, sink: EventSink, data: bytes, dechunk: Dechunker | None, length: int
) -> None:
    """Feed body bytes through the decoder and the parser until the body ends."""
    parser = SSEParser()
    seen = 0
    while True:
        if data:
            seen += len(data)
            body = dechunk.feed(data) if dechunk is not None else data
            if events := parser.feed(body):
                sink(events)
            if (dechunk is not None and dechunk.done) or 0 <= length <= seen:
                break
        data = await source.read(READ_SIZE)
        if not data:
            if dechunk is not None:
                raise ProtocolError("connection closed before the last chunk")
            if length > seen:
                raise ProtocolError("connection closed before Content-Length bytes")
            break
    if events := parser.close():
        sink(events)


def build_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """Return the bytes of a POST request for an SSE stream."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Accept: text/event-stream",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class StreamTiming:
    """Times of one stream, in seconds from the moment the request was sent."""

    first_event: float
    total: float
    events: int


async def stream_sse(
    host: str,
    port: int,
    path: str,
    body: bytes,
    *,
    sink: EventSink,
    headers: dict[str, str] | None = None,
) -> StreamTiming:
    """POST ``body`` to ``path`` and feed the SSE events of the response to ``sink``."""
    reader, writer = await asyncio.open_connection(host, port)
    first = -1.0
    count = 0

    def timed_sink(events: list[Event]) -> None:
        nonlocal first, count
        if first < 0:
            first = time.perf_counter() - start
        count += len(events)
        sink(events)

    try:
        request = build_request(host, port, path, body, headers or {})
        start = time.perf_counter()
        writer.write(request)
        await read_sse_body(reader, timed_sink)
        total = time.perf_counter() - start
    finally:
        writer.close()
    return StreamTiming(first, total, count)
