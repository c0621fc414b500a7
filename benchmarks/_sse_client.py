"""Minimal, fast Server-Sent Events client over a raw asyncio TCP connection.

The client writes a hand-made HTTP/1.1 request (``Connection: close``), reads the
response head, undoes chunked transfer-encoding when present (otherwise reads an
identity body, delimited by Content-Length or by the server closing), and parses
the SSE stream with the tests' parser (tests/support/sse_parser.py, through _shared.py).
``SSEResponse`` does all of that as bytes are pushed in; ``stream_sse`` pushes each read
from an asyncio protocol's ``data_received`` (no task woken per read: the client stays
lean at thousands of streams), ``read_sse_body`` from any ``read()``.
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
ERROR_BODY_LIMIT = 4096  # bytes of a non-200 body kept for its error
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


class SSEResponse:
    """One SSE response, parsed as its bytes are pushed in: head, body framing, events.

    ``feed`` takes each read and calls ``sink`` with the events it completed; ``close``
    is the end of the connection. ``done`` turns True once the body has ended (the last
    chunk of a chunked body, Content-Length bytes of an identity body). A non-200 status
    raises HttpStatusError with the start of its body once that has arrived (or at close).
    """

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink
        self.head: ResponseHead | None = None
        self.done = False
        self._buf = b""  # the head so far, or an error status's body
        self._dechunk: Dechunker | None = None
        self._length = -1
        self._seen = 0
        self._parser = SSEParser()

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the response."""
        if self.head is None:
            self._buf += data
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD:
                    raise ProtocolError("response head too large")
                return
            self.head = parse_head(self._buf[:end])
            data, self._buf = self._buf[end + 4 :], b""
            self._start_body(self.head)
        if self.head.status != 200:
            self._buf += data
            if len(self._buf) >= ERROR_BODY_LIMIT:
                raise HttpStatusError(self.head.status, self._buf)
            return
        if data and not self.done:
            self._seen += len(data)
            body = self._dechunk.feed(data) if self._dechunk is not None else data
            if events := self._parser.feed(body):
                self.sink(events)
            chunked_end = self._dechunk is not None and self._dechunk.done
            if chunked_end or 0 <= self._length <= self._seen:
                self._end()

    def close(self) -> None:
        """The server closed the connection: end the body, or say what was missing."""
        if self.head is None:
            raise ProtocolError(f"connection closed before response head ({self._buf[:80]!r})")
        if self.head.status != 200:
            raise HttpStatusError(self.head.status, self._buf)
        if self.done:
            return
        if self._dechunk is not None:
            raise ProtocolError("connection closed before the last chunk")
        if self._length > self._seen:
            raise ProtocolError("connection closed before Content-Length bytes")
        self._end()

    def _start_body(self, head: ResponseHead) -> None:
        if head.status != 200:
            return
        ctype = head.headers.get("content-type", "")
        if not ctype.startswith("text/event-stream"):
            raise ProtocolError(f"content-type is {ctype!r}, not text/event-stream")
        if "chunked" in head.headers.get("transfer-encoding", "").lower():
            self._dechunk = Dechunker()
        else:
            self._length = int(head.headers.get("content-length", -1))

    def _end(self) -> None:
        self.done = True
        if events := self._parser.close():
            self.sink(events)


async def read_sse_body(source: ByteSource, sink: EventSink) -> ResponseHead:
    """Read one SSE response from ``source``, calling ``sink`` per batch of events.

    Returns when the body ends: the last chunk of a chunked body, Content-Length
    bytes of an identity body, or the server closing the connection.
    """
    response = SSEResponse(sink)
    while not response.done:
        data = await source.read(READ_SIZE)
        if not data:
            response.close()
            break
        response.feed(data)
    assert response.head is not None
    return response.head


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


class _SSEClientProtocol(asyncio.Protocol):
    """Feeds each read straight to an SSEResponse (no reader task to wake per read)."""

    def __init__(self, response: SSEResponse, finished: asyncio.Future[None]) -> None:
        self.response = response
        self.finished = finished

    def data_received(self, data: bytes) -> None:
        """Parse a read; the response's end or error finishes the stream."""
        if self.finished.done():
            return
        try:
            self.response.feed(data)
        except Exception as err:  # handed to the waiting stream
            self.finished.set_exception(err)
            return
        if self.response.done:
            self.finished.set_result(None)

    def eof_received(self) -> bool:
        """The server closed its side."""
        self._close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection ended (or failed)."""
        if exc is not None and not self.finished.done():
            self.finished.set_exception(exc)
        self._close()

    def _close(self) -> None:
        if self.finished.done():
            return
        try:
            self.response.close()
        except Exception as err:  # handed to the waiting stream
            self.finished.set_exception(err)
        else:
            self.finished.set_result(None)


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
    loop = asyncio.get_running_loop()
    first = -1.0
    count = 0

    def timed_sink(events: list[Event]) -> None:
        nonlocal first, count
        if first < 0:
            first = time.perf_counter() - start
        count += len(events)
        sink(events)

    finished: asyncio.Future[None] = loop.create_future()
    response = SSEResponse(timed_sink)
    transport, _ = await loop.create_connection(
        lambda: _SSEClientProtocol(response, finished), host, port
    )
    try:
        request = build_request(host, port, path, body, headers or {})
        start = time.perf_counter()
        transport.write(request)
        await finished
        total = time.perf_counter() - start
    finally:
        transport.close()
    return StreamTiming(first, total, count)
