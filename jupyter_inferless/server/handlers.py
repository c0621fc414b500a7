"""Thin HTTP handlers: parse the request, call the service, write JSON or SSE."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.iostream import StreamClosedError

from ..contract import decode_body, decode_query
from . import sse
from .broker import EventsEvicted, Stream
from .service import Service, ServiceError, v2_metadata, v2_outputs

AUTH_RESOURCE = "kernels"
COUNTERS_INTERVAL = 1.0  # seconds between pushes of changed counters
MODEL = r"/inferless/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class RefusedError(web.HTTPError):
    """A refusal that may tell the client when to retry (set after tornado clears headers)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(status, message)
        self.retry_after = retry_after


class InferlessHandler(APIHandler):
    """Base: authenticated, authorised on ``kernels``, errors as ``{"error": ...}``."""

    auth_resource = AUTH_RESOURCE

    @property
    def service(self) -> Service:
        """The serving service of this server."""
        service: Service = self.settings["inferless_service"]
        return service

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error is JSON ``{"error": message}``; never a traceback."""
        message = self._reason
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        if isinstance(error, web.HTTPError):
            message = error.get_message() or message
        elif error is not None:
            message = "internal error; see the server log"
        if exc_info and isinstance(exc_info[1], RefusedError) and exc_info[1].retry_after:
            self.set_header("Retry-After", str(exc_info[1].retry_after))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Log errors by path only: the query string may hold the token (EventSource GET)."""
        where = f"{self.request.method} {self.request.path}"
        if isinstance(value, web.HTTPError):
            if value.get_message():
                self.log.warning("%d %s: %s", value.status_code, where, value.get_message())
        else:
            self.log.error("uncaught exception in %s", where, exc_info=(typ, value, tb))

    def fail(self, err: ServiceError) -> NoReturn:
        """Answer a refused request."""
        raise RefusedError(err.status, err.message, err.retry_after)

    def json_body(self) -> Any:
        """The request body as JSON, or a 400/413 naming what is wrong."""
        body = self.request.body
        if len(body) > self.service.config.max_body_bytes:
            raise web.HTTPError(
                413, f"the body is larger than {self.service.config.max_body_bytes} bytes"
            )
        if not body.strip():
            return {}
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise web.HTTPError(
                400, f"the body is not UTF-8 ({err.reason} at byte {err.start})"
            ) from None
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except ValueError as err:
            raise web.HTTPError(400, f"the body is not valid JSON: {err}") from None
        except RecursionError:
            raise web.HTTPError(400, "the body is nested too deeply") from None

    def start(self, name: str, body: Any = None, query: bool = False) -> Stream:
        """Validate and start a request, answering 4xx/503 when refused."""
        try:
            if query:
                arguments = {
                    key: [value.decode("utf-8", "replace") for value in values]
                    for key, values in self.request.query_arguments.items()
                }
                return self.service.start(name, lambda schema: decode_query(schema, arguments))
            return self.service.start(name, lambda schema: decode_body(schema, body))
        except ServiceError as err:
            self.fail(err)


class HealthHandler(InferlessHandler):
    """v2 health: live and ready."""

    @web.authenticated
    @authorized
    async def get(self, what: str) -> None:
        self.finish({what: True})


class ModelListHandler(InferlessHandler):
    """Every served model, with its kernel, notebook, device, schema and counters."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish({"models": await self.service.list_models()})


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


class ModelMetadataHandler(InferlessHandler):
    """v2 model metadata."""

    @web.authenticated
    @authorized
    async def get(self, name: str, version: str | None = None) -> None:
        try:
            _, entry = self.service.model(name)
        except ServiceError as err:
            self.fail(err)
        self.finish(v2_metadata(entry))


class ModelReadyHandler(InferlessHandler):
    """v2 model readiness: 200 once initialised and served."""

    @web.authenticated
    @authorized
    async def get(self, name: str, version: str | None = None) -> None:
        try:
            self.service.model(name)
        except ServiceError as err:
            self.fail(err)
        self.finish({"name": name, "ready": True})


class _OneShotHandler(InferlessHandler):
    """Shared by infer and generate: run to the end, answer one JSON."""

    async def run(self, name: str, body: Any) -> dict[str, Any]:
        try:
            _, entry = self.service.model(name)
        except ServiceError as err:
            self.fail(err)
        if entry.schema.streaming:
            raise web.HTTPError(
                400, f"model {name!r} streams its output; POST to .../{name}/generate_stream"
            )
        stream = self.start(name, body)
        try:
            outputs = await self.service.collect(stream)
        except ServiceError as err:
            self.fail(err)
        return outputs[-1] if outputs else {}


class InferHandler(_OneShotHandler):
    """v2 infer: tensors in, tensors out."""

    @web.authenticated
    @authorized
    async def post(self, name: str, version: str | None = None) -> None:
        body = self.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise web.HTTPError(
                400, 'a v2 infer request is {"inputs": [{"name", "shape", "datatype", "data"}]}'
            )
        output = await self.run(name, body)
        reply: dict[str, Any] = {"model_name": name, "model_version": version or "1"}
        if isinstance(body.get("id"), str):
            reply["id"] = body["id"]
        reply["outputs"] = v2_outputs(output)
        self.finish(reply)


class GenerateHandler(_OneShotHandler):
    """Triton generate: one JSON object of outputs."""

    @web.authenticated
    @authorized
    async def post(self, name: str, version: str | None = None) -> None:
        output = await self.run(name, self.json_body())
        self.finish({"model_name": name, "model_version": version or "1", **output})


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


def handlers() -> list[tuple[str, type[InferlessHandler]]]:
    """Routes, relative to the server's base_url."""
    return [
        (r"/inferless/v2/health/(?P<what>live|ready)", HealthHandler),
        (r"/inferless/api/models", ModelListHandler),
        (r"/inferless/api/models/events", ModelEventsHandler),
        (MODEL + r"/ready", ModelReadyHandler),
        (MODEL + r"/infer", InferHandler),
        (MODEL + r"/generate", GenerateHandler),
        (MODEL + r"/generate_stream", GenerateStreamHandler),
        (MODEL, ModelMetadataHandler),
        (r"/inferless/api/streams/(?P<rid>[^/]+)", StreamResourceHandler),
    ]
