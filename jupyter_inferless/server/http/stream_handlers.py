"""Handlers that answer with Server-Sent Events: streams, resume/cancel, the model list."""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.iostream import StreamClosedError

from ...protocol import ErrorKind, RunError
from .. import tornado_direct
from ..streams.reader import End, Events
from ..streams.stream import Stream
from . import sse
from .base_handler import InferlessHandler
from .stall import WRITE_BYTES, StallGuard

COUNTERS_INTERVAL = 1.0  # seconds between pushes of changed counters
FIRST_EVENT_WAIT = 0.5  # seconds the EventSource form holds its headers for a first event


def error_event(rid: str, position: int, error: RunError) -> bytes:
    """The in-band error event at ``position``: its text, its kind and its type."""
    return sse.error_event(rid, position, error["message"], error["kind"].value, error["type"])


class StreamWriter(InferlessHandler):
    """Writes a stream as SSE, from any position, with heartbeats while idle; resumes it."""

    async def write_stream(self, stream: Stream, position: int, *, mark_end: bool = False) -> None:
        """Write events from ``position`` until the end.

        ``mark_end`` is for the EventSource form, whose client reconnects after every end
        and can only name the stream by an event id. It waits FIRST_EVENT_WAIT for the first
        event: a run that ends with none by then is answered 204, which stops EventSource;
        else the headers go, with a ``:`` if none came (the run may be queued). A later empty
        end gets an id-only block (``RID:-1``), so a browser's reconnect still names it.
        """
        config, metrics = self.service, self.service.metrics
        try:
            with stream.reader(position, config.heartbeat_interval, WRITE_BYTES) as reader:
                if mark_end:
                    await stream.wait(position, min(FIRST_EVENT_WAIT, config.heartbeat_interval))
                    if stream.ended and stream.total == 0 and not stream.error:
                        self.set_status(204)
                        self.finish()
                        return
                self.start_event_stream(stream)
                idle = mark_end and position >= stream.total and not stream.ended
                self.write(sse.retry(config.retry_ms) + (sse.heartbeat() if idle else b""))
                drained = StallGuard(self, config.stall_timeout, f"stream {stream.rid}")
                await drained(self.flush())
                send = tornado_direct.event_sender(self, direct=config.direct_writes)
                async for item in reader:
                    if isinstance(item, Events):
                        await drained(send(sse.events(stream.rid, item.position, item.lines)))
                        if item.position == 0:
                            metrics.first_event(stream.model, self.request.request_time())
                    elif isinstance(item, End):
                        if item.evicted:  # a slow second subscriber fell out of the window
                            metrics.failed(stream.model, ErrorKind.EVENTS_EVICTED.value)
                        if item.error:
                            self.write(error_event(stream.rid, item.position, item.error))
                        elif mark_end and stream.total == 0:
                            self.write(sse.id_only(stream.rid, sse.BEFORE_FIRST_EVENT))
                        await drained(self.flush())
                    else:  # idle
                        self.write(sse.heartbeat())
                        await drained(self.flush())
        except StreamClosedError:
            return
        self.finish()

    def start_event_stream(self, stream: Stream) -> None:
        """The event stream's headers; uncompressed where tornado_direct can ensure it, no
        Nagle delay."""
        tornado_direct.without_compression(self, direct=self.service.direct_writes)
        for header, value in sse.HEADERS.items():
            self.set_header(header, value)
        self.set_header("X-Request-Id", stream.rid)
        self.set_header("Location", self.stream_location(stream))
        connection_stream = tornado_direct.connection_stream(self)
        if connection_stream is not None:
            connection_stream.set_nodelay(True)

    async def resume(self, stream: Stream, last_id: int) -> None:
        """Answer a reconnect after event ``last_id``: the rest of the stream, or 204."""
        self.refuse_cross_site()
        delivered_all = stream.total + (1 if stream.error else 0)  # the error has an id too
        if last_id < sse.BEFORE_FIRST_EVENT or last_id >= delivered_all:
            raise web.HTTPError(
                400,
                f"Last-Event-ID {sse.event_id(stream.rid, last_id)} was never sent "
                f"(the stream has {stream.total} events)",
            )
        position = last_id + 1
        if stream.ended and position >= delivered_all:
            self.set_status(204)  # all delivered: tells EventSource to stop reconnecting
            self.finish()
            return
        if position < stream.base:
            after, kept = sse.event_id(stream.rid, last_id), sse.event_id(stream.rid, stream.base)
            gone = f"cannot resume after id {after}: events before id {kept} are no longer kept"
            raise web.HTTPError(410, gone + stream.dropped_note())
        await self.write_stream(stream, position)

    def last_event_id(self) -> str | None:
        """The Last-Event-ID header, else (absent or empty) the ``last_event_id`` query
        argument; None when both are absent or empty."""
        last = self.request.headers.get("Last-Event-ID")
        return last or self.get_query_argument("last_event_id", None) or None

    def find_stream(self, rid: str) -> Stream:
        """The stream, or a 404 naming the id."""
        stream = self.service.broker.get(rid)
        if stream is None:
            raise web.HTTPError(404, f"no stream {rid[:64]!r} (unknown, or finished long ago)")
        return stream

    def stream_location(self, stream: Stream) -> str:
        """Where the stream can be resumed or cancelled."""
        return f"{self.base_url.rstrip('/')}/inferless/api/streams/{stream.rid}"


class GenerateStreamHandler(StreamWriter):
    """The stream: POST with a JSON body, or GET with query parameters for EventSource.

    A request with a Last-Event-ID is a reconnect: it resumes the stream the id names
    (or gets 204 once that stream was delivered) and never starts a new run.
    """

    metered = True

    @web.authenticated
    @authorized
    async def post(self, name: str, version: str | None = None) -> None:
        await self.generate(name, query=False)

    @web.authenticated
    @authorized
    async def get(self, name: str, version: str | None = None) -> None:
        await self.generate(name, query=True)

    async def generate(self, name: str, query: bool) -> None:
        """Resume the stream a Last-Event-ID names, or start a run: inputs from the JSON
        body, or (``query``, EventSource's GET) from the query, marking an empty end."""
        last = self.last_event_id()
        if last is not None:
            await self.resume_named(name, last)
            return
        await self.service.turns.enter()  # a burst starts a few runs per turn of the loop
        stream = await self.start_request(name, query)
        await self.write_stream(stream, 0, mark_end=query)

    async def resume_named(self, name: str, last: str) -> None:
        """Resume the stream of model ``name`` that the event id ``last`` names."""
        try:
            rid, last_id = sse.parse_event_id(last)
        except sse.EventIdError as err:
            raise web.HTTPError(
                400, f"Last-Event-ID: {err}; a reconnect never starts a new run"
            ) from None
        if rid is None:
            raise web.HTTPError(
                400,
                f"Last-Event-ID {last[:40]!r} names no stream (this server's event ids are "
                "RID:N); a reconnect never starts a new run",
            )
        stream = self.find_stream(rid)
        if stream.model != name:
            raise web.HTTPError(
                400, f"Last-Event-ID names a stream of model {stream.model!r}, not {name[:64]!r}"
            )
        self.model_label = stream.model  # the model it was started on
        await self.resume(stream, last_id)


class StreamResourceHandler(StreamWriter):
    """Resume a stream after a Last-Event-ID (GET), or cancel it (DELETE)."""

    @web.authenticated
    @authorized
    async def get(self, rid: str) -> None:
        stream = self.find_stream(rid)
        last = self.last_event_id()
        if last is None:
            await self.resume(stream, sse.BEFORE_FIRST_EVENT)
            return
        try:
            named, last_id = sse.parse_event_id(last)
        except sse.EventIdError as err:
            raise web.HTTPError(400, f"Last-Event-ID: {err}") from None
        if named is not None and named != stream.rid:
            raise web.HTTPError(400, "Last-Event-ID names another stream than the URL")
        await self.resume(stream, last_id)

    @web.authenticated
    @authorized
    async def delete(self, rid: str) -> None:
        self.refuse_cross_site()
        stream = self.find_stream(rid)
        if stream.ended:
            self.finish({"id": rid, "cancelled": False, "state": "ended"})
            return
        stream.cancel()
        self.set_status(202)
        self.finish({"id": rid, "cancelled": True, "state": "cancelling"})


class ModelEventsHandler(InferlessHandler):
    """The model list pushed as SSE: on every change, counters at most once a second."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        config = self.service
        catalog = self.service.catalog
        tornado_direct.without_compression(self, direct=config.direct_writes)
        for header, value in sse.HEADERS.items():
            self.set_header(header, value)
        last: bytes | None = None
        idle = 0.0
        drained = StallGuard(self, config.stall_timeout, "the model list")
        try:
            self.write(sse.retry(config.retry_ms))
            while True:
                version = catalog.version
                data = json.dumps({"models": await self.service.list_models()}).encode()
                if data != last:
                    self.write(sse.event(version, data))
                    last, idle = data, 0.0
                elif idle >= config.heartbeat_interval:
                    self.write(sse.heartbeat())
                    idle = 0.0
                await drained(self.flush())
                changed = await catalog.wait_for_change(version, COUNTERS_INTERVAL)
                idle += 0.0 if changed else COUNTERS_INTERVAL
        except StreamClosedError:
            return
