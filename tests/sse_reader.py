"""A test-side SSE reader over real HTTP (tornado's client, streaming callback)."""

from __future__ import annotations

import codecs
import json
import time
from dataclasses import dataclass, field
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

# Tests open dozens of concurrent streams; tornado's default is 10 at a time.
AsyncHTTPClient.configure(None, max_clients=128)


@dataclass
class Event:
    """One parsed SSE event."""

    id: str | None
    data: str

    @property
    def json(self) -> Any:
        """The data as JSON."""
        return json.loads(self.data)

    @property
    def position(self) -> int:
        """The event's position in its stream: N of the id "RID:N"."""
        assert self.id is not None, "the event has no id"
        return int(self.id.rpartition(":")[2])


@dataclass
class SSEParser:
    """Incremental SSE parser accepting CR, LF and CRLF line endings."""

    events: list[Event] = field(default_factory=list)
    comments: int = 0
    retry: int | None = None
    _buffer: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None
    _decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")())

    def feed(self, chunk: bytes) -> None:
        """Parse a chunk of the body."""
        self._buffer += self._decoder.decode(chunk)
        text = self._buffer.replace("\r\n", "\n").replace("\r", "\n")
        if self._buffer.endswith("\r"):
            text, self._buffer = text[:-1], "\r"
        else:
            self._buffer = ""
        *lines, rest = text.split("\n")
        self._buffer = rest + self._buffer
        for line in lines:
            self._line(line)

    def _line(self, line: str) -> None:
        if not line:
            if self._data:
                self.events.append(Event(self._id, "\n".join(self._data)))
            self._data, self._id = [], None
            return
        if line.startswith(":"):
            self.comments += 1
            return
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value)


@dataclass
class StreamResult:
    """What a streamed request returned."""

    status: int
    headers: dict[str, str]
    events: list[Event]
    first_event_at: float | None
    elapsed: float
    body: bytes
    comments: int = 0
    retry: int | None = None

    @property
    def outputs(self) -> list[Any]:
        """Every event's data as JSON."""
        return [event.json for event in self.events]


async def read_stream(
    url: str,
    *,
    method: str = "POST",
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> StreamResult:
    """Send a request and read its SSE body to the end."""
    parser = SSEParser()
    raw = bytearray()
    started = time.monotonic()
    first: list[float] = []

    def on_chunk(chunk: bytes) -> None:
        raw.extend(chunk)
        parser.feed(chunk)
        if parser.events and not first:
            first.append(time.monotonic() - started)

    encoded = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    request = HTTPRequest(
        url,
        method=method,
        body=encoded,
        headers=headers or {},
        streaming_callback=on_chunk,
        request_timeout=timeout,
        allow_nonstandard_methods=True,
    )
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    if response.code == 599:
        raise AssertionError(f"{method} {url}: no answer ({response.error})")
    return StreamResult(
        status=response.code,
        headers=dict(response.headers.get_all()),
        events=parser.events,
        first_event_at=first[0] if first else None,
        elapsed=time.monotonic() - started,
        body=bytes(raw),
        comments=parser.comments,
        retry=parser.retry,
    )
