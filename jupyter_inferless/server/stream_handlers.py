"""Handlers that answer with Server-Sent Events: streams, resume/cancel, the model list."""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.iostream import StreamClosedError

from . import sse
from .base_handler import InferlessHandler
from .broker import EventsEvicted, Stream

COUNTERS_INTERVAL = 1.0  # seconds between pushes of changed counters


class StreamWriter(InferlessHandler):
    """Writes a stream as SSE, from any position, with heartbeats while idle."""

    async def write_stream(self, stream: Stream, position: int) -> None:
        """Write events from ``position`` until the end."""
        config = self.service.config
        self._transforms = []  # never compress an event stream
        for header, value in sse.HEADERS.items():
            self.set_header(header, value)
        self.set_header("X-Request-Id", stream.rid)
        self.set_header("Location", self.stream_location(stream))
        connection_stream = getattr(self.request.connection, "stream", None)
        if connection_stream is not None:
            connection_stream.set_nodelay(True)
        self.service.subscribe(stream)
        try:
            self.write(sse.retry(config.retry_ms))
            await self.flush()
            while True:
                if position < stream.total:
                    lines = stream.read(position)
                    self.write(sse.events(position, lines))
                    await self.flush()
                    position += len(lines)
                    stream.advance(position)
                elif stream.ended:
                    if stream.error:
                        self.write(sse.error_event(position, stream.error))
                        await self.flush()
                    break
                elif not await stream.wait(position, config.heartbeat_interval):
                    self.write(sse.comment())
                    await self.flush()
        except StreamClosedError:
            return
        except EventsEvicted as err:  # a slow second subscriber fell out of the window
            self.write(sse.error_event(position, f"EventsEvicted: {err}"))
        finally:
            self.service.unsubscribe(stream)
        self.finish()

    def stream_location(self, stream: Stream) -> str:
        """Where the stream can be resumed or cancelled."""
        return f"{self.base_url.rstrip('/')}/inferless/api/streams/{stream.rid}"


class GenerateStreamHandler(StreamWriter):
    """The stream: POST with a JSON body, or GET with query parameters for EventSource."""

    @web.authenticated
    @authorized
    async def post(self, name: str, version: str | None = None) -> None:
        stream = self.start(name, self.json_body())
        await self.write_stream(stream, 0)

    @web.authenticated
    @authorized
    async def get(self, name: str, version: str | None = None) -> None:
        stream = self.start(name, query=True)
        await self.write_stream(stream, 0)


class StreamResourceHandler(StreamWriter):
    """Resume a stream after a Last-Event-ID (GET), or cancel it (DELETE)."""

    @web.authenticated
    @authorized
    async def get(self, rid: str) -> None:
        stream = self.find_stream(rid)
        position = self.resume_position(stream)
        delivered_all = stream.total + (1 if stream.error else 0)  # the error has an id too
        if stream.ended and position >= delivered_all:
            self.set_status(204)  # all delivered: tells EventSource to stop reconnecting
            self.finish()
            return
        if position < stream.base:
            raise web.HTTPError(
                410,
                f"cannot resume after id {position - 1}: events before id {stream.base} "
                "are no longer kept",
            )
        await self.write_stream(stream, position)

    @web.authenticated
    @authorized
    async def delete(self, rid: str) -> None:
        stream = self.find_stream(rid)
        if stream.ended:
            self.finish({"id": rid, "cancelled": False, "state": "ended"})
            return
        self.service.cancel(stream)
        self.set_status(202)
        self.finish({"id": rid, "cancelled": True, "state": "cancelling"})

    def find_stream(self, rid: str) -> Stream:
        """The stream, or a 404 naming the id."""
        stream = self.service.broker.get(rid)
        if stream is None:
            raise web.HTTPError(404, f"no stream {rid[:64]!r} (unknown, or finished long ago)")
        return stream

    def resume_position(self, stream: Stream) -> int:
        """The first event to send: the one after Last-Event-ID (header or query)."""
        last = self.request.headers.get("Last-Event-ID")
        if last is None:
            last = self.get_query_argument("last_event_id", None)
        if last is None or last.strip() == "":
            return 0
        try:
            last_id = int(last.strip())
        except ValueError:
            raise web.HTTPError(
                400, f"Last-Event-ID must be an event id, not {last[:40]!r}"
            ) from None
        if last_id < -1 or last_id > stream.total:
            raise web.HTTPError(
                400,
                f"Last-Event-ID {last_id} was never sent (the stream has {stream.total} events)",
            )
        return last_id + 1


class ModelEventsHandler(InferlessHandler):
    """The model list pushed as SSE: on every change, counters at most once a second."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        config = self.service.config
        catalog = self.service.catalog
        self._transforms = []
        for header, value in sse.HEADERS.items():
            self.set_header(header, value)
        last: bytes | None = None
        idle = 0.0
        try:
            self.write(sse.retry(config.retry_ms))
            while True:
                version = catalog.version
                data = json.dumps({"models": await self.service.list_models()}).encode()
                if data != last:
                    self.write(sse.event(version, data))
                    last, idle = data, 0.0
                elif idle >= config.heartbeat_interval:
                    self.write(sse.comment())
                    idle = 0.0
                await self.flush()
                changed = await catalog.wait_for_change(version, COUNTERS_INTERVAL)
                idle += 0.0 if changed else COUNTERS_INTERVAL
        except StreamClosedError:
            return
