"""A test-side SSE reader over real HTTP (tornado's client, streaming callback).

It parses with the one SSE parser (sse_parser.py) and keeps each event as an ``Event``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests.support.sse_parser import SSEParser

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
class EventLog:
    """Every event of one response body so far: feed it the body's chunks as they arrive.

    ``comments`` counts the comment lines (heartbeats), ``retry`` is the ``retry:`` hint.
    """

    events: list[Event] = field(default_factory=list)
    parser: SSEParser = field(default_factory=SSEParser)

    def feed(self, chunk: bytes) -> None:
        """Parse a chunk of the body."""
        self._keep(self.parser.feed(chunk))

    def close(self) -> None:
        """The body ended."""
        self._keep(self.parser.close())

    @property
    def comments(self) -> int:
        """Comment lines (heartbeats) read so far."""
        return self.parser.comments

    @property
    def retry(self) -> int | None:
        """The server's retry hint, once read."""
        return self.parser.retry

    def _keep(self, parsed: list[tuple[bytes, bytes]]) -> None:
        self.events += [Event(rid.decode() or None, data.decode()) for rid, data in parsed]


def events_in(body: bytes) -> list[Event]:
    """The events of a whole SSE body."""
    log = EventLog()
    log.feed(body)
    log.close()
    return log.events


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


def raw_post(
    url: str,
    auth: dict[str, str],
    body: Any,
    version: str = "HTTP/1.1",
    headers: dict[str, str] | None = None,
) -> bytes:
    """The bytes of a JSON POST to ``url`` with ``Connection: close`` (and ``headers``),
    for a bare socket."""
    parts = urlsplit(url)
    payload = json.dumps(body).encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"POST {parts.path} {version}\r\nHost: {parts.netloc}\r\n"
        f"Authorization: {auth['Authorization']}\r\nContent-Type: application/json\r\n"
        f"{extra}Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + payload


def _encode(body: Any) -> bytes | None:
    return body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()


async def read_stream(
    url: str,
    *,
    method: str = "POST",
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> StreamResult:
    """Send a request and read its SSE body to the end."""
    log = EventLog()
    raw = bytearray()
    started = time.monotonic()
    first: list[float] = []

    def on_chunk(chunk: bytes) -> None:
        raw.extend(chunk)
        log.feed(chunk)
        if log.events and not first:
            first.append(time.monotonic() - started)

    request = HTTPRequest(
        url,
        method=method,
        body=_encode(body),
        headers=headers or {},
        streaming_callback=on_chunk,
        request_timeout=timeout,
        allow_nonstandard_methods=True,
    )
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    if response.code == 599:
        raise AssertionError(f"{method} {url}: no answer ({response.error})")
    log.close()
    return StreamResult(
        status=response.code,
        headers=dict(response.headers.get_all()),
        events=log.events,
        first_event_at=first[0] if first else None,
        elapsed=time.monotonic() - started,
        body=bytes(raw),
        comments=log.comments,
        retry=log.retry,
    )


class Dropped(Exception):
    """Raised in the streaming callback to cut the connection."""


async def read_then_drop(
    url: str, headers: dict[str, str], body: Any, keep: int
) -> tuple[list[Event], dict[str, str]]:
    """Stream (POST with a body, else GET), cutting the connection once ``keep`` events
    arrived; the first ``keep`` events and the response's headers (lower-cased names)."""
    log = EventLog()
    received: dict[str, str] = {}

    def on_chunk(chunk: bytes) -> None:
        log.feed(chunk)
        if len(log.events) >= keep:
            raise Dropped()

    def on_header(line: str) -> None:
        name, _, value = line.partition(":")
        if value:
            received[name.strip().lower()] = value.strip()

    request = HTTPRequest(
        url,
        method="GET" if body is None else "POST",
        body=_encode(body),
        headers=headers,
        streaming_callback=on_chunk,
        header_callback=on_header,
        request_timeout=60,
    )
    client = AsyncHTTPClient(force_instance=True)
    try:
        await client.fetch(request)
    except Exception:  # tornado reports the cut as a closed stream, not as Dropped
        assert len(log.events) >= keep, "the connection failed before it was cut"
    finally:
        client.close()
    return log.events[:keep], received
