"""A slow client pauses the model instead of growing server memory; the replay window is bounded."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.models import PADDED
from tests.support.non_reader import holds_still
from tests.support.server_config import server_config
from tests.support.sse_reader import EventLog, raw_post

CREDIT_EVENTS = 64
CREDIT_BYTES = 128 * 1024
REPLAY_EVENTS = 32
REPLAY_BYTES = 64 * 1024
EVENT_BYTES = 8000


def big(n: int) -> dict[str, int]:
    """A request for ``n`` events of EVENT_BYTES or so."""
    return {"n": n, "size": EVENT_BYTES}


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """Small credit and replay windows, so their limits show quickly."""
    return server_config(
        credit_events=CREDIT_EVENTS,
        credit_bytes=CREDIT_BYTES,
        replay_events=REPLAY_EVENTS,
        replay_bytes=REPLAY_BYTES,
    )


class SlowReader:
    """A raw HTTP/1.1 client that reads a chunked SSE body only when told to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.log = EventLog()
        self.headers: dict[str, str] = {}

    @classmethod
    async def open(cls, url: str, auth: dict[str, str], body: dict[str, Any]) -> SlowReader:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port, limit=2**20)
        writer.write(raw_post(url, auth, body))
        await writer.drain()
        client = cls(reader, writer)
        status, *lines = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        assert " 200 " in status, status
        for line in lines:
            name, _, value = line.partition(":")
            client.headers[name.strip().lower()] = value.strip()
        return client

    async def read_events(self, count: int | None = None) -> None:
        """Read chunks until ``count`` events (or the end) have arrived."""
        while count is None or len(self.log.events) < count:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return
            self.log.feed(chunk[:-2])

    def close(self) -> None:
        self.writer.close()


async def produced(kernel: Any) -> int:
    return int(await kernel.run("print(Padded.produced)"))


PAUSED = f"""
from jupyter_inferless.kernel.runtime import Runtime
_outbox = next(iter(Runtime.existing().links.values())).outbox
with _outbox.cond:
    _paused = [
        bool(channel.backlog or channel.blocked({EVENT_BYTES}))
        and _outbox.over_bounds(channel)
        for channel in _outbox.channels.values()
    ]
    print(Padded.produced, _paused == [True])
"""
"""Kernel code printing the model's count of produced events, and whether its one request
is paused: out of credit, its backlog at its bound, so its next event must wait."""


async def paused(kernel: Any) -> int | None:
    """The model's count of produced events while its request is paused, else None."""
    count, now_paused = (await kernel.run(PAUSED)).split()
    return int(count) if now_paused == "True" else None


async def test_a_client_that_stops_reading_pauses_the_model(kernel, api, jp_serverapp):
    await kernel.run(PADDED.serve("big"))
    await api.wait_for_model("big")
    total = 3000  # 24 MB: far more than socket buffers and the credit window
    client = await SlowReader.open(
        api.url("inferless/v2/models/big/generate_stream"), api.auth, big(total)
    )
    try:
        await client.read_events(10)
        # The server writes until the socket's buffers are full (loopback TCP grows them to
        # a few MB, more slowly on a busy machine), then the credit runs out and the
        # kernel's backlog fills: wait until the count holds still for a second, then
        # check that the model's next event waits.
        paused_at = await holds_still(lambda: produced(kernel))
        assert await paused(kernel) == paused_at, "the model should be paused"
        assert paused_at < total
        stream = jp_serverapp.web_app.settings["inferless_service"].broker.get(
            client.headers["x-request-id"]
        )
        held_limit = CREDIT_BYTES + REPLAY_BYTES + 2 * (EVENT_BYTES + 100)
        print(f"model paused after {paused_at} of {total} events; server holds "
              f"{len(stream.lines)} events, {stream.held_bytes} bytes")  # fmt: skip
        assert stream.held_bytes <= held_limit
        await client.read_events()
    finally:
        client.close()
    ids = [event.position for event in client.log.events]
    assert ids == list(range(total))
    assert await produced(kernel) == total


async def test_resume_older_than_the_replay_window_is_a_clear_410(kernel, api):
    await kernel.run(PADDED.serve("big"))
    await api.wait_for_model("big")
    result = await api.stream("inferless/v2/models/big/generate_stream", big(200))
    assert len(result.events) == 200
    path = f"inferless/api/streams/{result.headers['X-Request-Id']}"
    status, body = await api.call(path + "?last_event_id=10")
    assert status == 410
    assert "no longer kept" in body["error"]
    # 64 KiB of replay holds the last 7 of these 8 KB events
    tail = await api.stream(path, method="GET", headers={"Last-Event-ID": "195"})
    assert [e.position for e in tail.events] == list(range(196, 200))
