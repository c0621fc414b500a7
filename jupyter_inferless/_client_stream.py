"""The client's errors, and its SSE readers that resume a dropped stream (sync and async)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

MAX_RETRY_WAIT = 30.0
"""The longest wait before a reconnection, whatever the server's ``retry:`` hint (seconds)."""
DEFAULT_RETRY_MS = 1000
DEFAULT_ERROR_KIND = "model_error"
"""The kind of an in-band error that names none."""
_ERROR_TYPE = re.compile(r"[A-Za-z_][\w.]*")
_SKIP = object()


class InferlessError(Exception):
    """Base of every error this client raises."""


class RequestRejected(InferlessError):
    """The server refused a request before any output (4xx/5xx), with its message."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, response: httpx.Response) -> RequestRejected:
        """Build from a response whose body has been read."""
        try:
            message = str(response.json()["error"])
        except (ValueError, KeyError, TypeError):
            message = response.text.strip()[:500] or response.reason_phrase
        try:
            retry_after: float | None = float(response.headers["Retry-After"])
        except (KeyError, ValueError):
            retry_after = None
        return cls(response.status_code, message, retry_after)


class ModelError(InferlessError):
    """The stream ended with an in-band ``{"error": "Type: message", "kind": KIND}``.

    ``kind`` says why (``model_error``, ``cancelled``, ``kernel_gone``, …; an error without
    one is a ``model_error``); ``type`` and ``message`` are the text's two parts.
    """

    def __init__(
        self, error: str, request_id: str | None = None, kind: str = DEFAULT_ERROR_KIND
    ) -> None:
        super().__init__(error)
        head, sep, rest = error.partition(": ")
        typed = bool(sep) and _ERROR_TYPE.fullmatch(head) is not None
        self.type = head if typed else ""
        self.message = rest if typed else error
        self.request_id = request_id
        self.kind = kind


class StreamError(InferlessError):
    """A dropped stream could not be resumed; ``status`` is 410 (events lost), 404 or None."""

    def __init__(
        self, message: str, request_id: str | None, last_event_id: int | None, status: int | None
    ) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.last_event_id = last_event_id
        self.status = status


def _position(event_id: str) -> int | None:
    """The position in an event id ("RID:N", or a bare "N"), if it has one."""
    position = event_id.rpartition(":")[2]
    return int(position) if position.isdigit() else None


class _TryAgain(Exception):
    """A resume attempt got a 5xx: count it as a failure and try again."""


class _Resumable:
    """What both readers share: request id, last event yielded, retry hint, failures."""

    def __init__(
        self, http: Any, request: httpx.Request, resume_path: Callable[[str], str], max_retries: int
    ) -> None:
        self._http = http
        self.request_id: str | None = None
        self.last_event_id: int | None = None
        self.delivered = 0
        self.reconnects = 0
        self.retry_ms = DEFAULT_RETRY_MS
        self._request: httpx.Request | None = request
        self._response: httpx.Response | None = None
        self._failures = 0
        self._max_retries = max_retries
        self._resume_path = resume_path

    def _accept(self, sse: ServerSentEvent) -> Any:
        """The event's output, or _SKIP; raises ModelError for an in-band error."""
        if sse.retry is not None:
            self.retry_ms = sse.retry
        if not sse.data:
            return _SKIP
        event_id, last = _position(sse.id), self.last_event_id
        if event_id is not None and last is not None and event_id <= last:
            return _SKIP  # yielded before the reconnection
        try:
            output = json.loads(sse.data)
        except ValueError:
            raise self._error(f"event {sse.id or '?'} is not JSON: {sse.data[:80]!r}") from None
        if (
            isinstance(output, dict)
            and isinstance(output.get("error"), str)
            and set(output) <= {"error", "kind"}
        ):
            kind = output.get("kind")
            kind = kind if isinstance(kind, str) and kind else DEFAULT_ERROR_KIND
            raise ModelError(output["error"], self.request_id, kind)
        self.last_event_id, self.delivered, self._failures = event_id, self.delivered + 1, 0
        return output

    def _is_stream(self, response: httpx.Response) -> bool:
        content_type = response.headers.get("Content-Type", "").partition(";")[0].strip()
        if response.status_code != 200 or content_type != "text/event-stream":
            return False
        self.request_id = self.request_id or response.headers.get("X-Request-Id")
        self._response = response
        return True

    def _refused(self, response: httpx.Response, resuming: bool) -> None:
        """Raise for a response that is not an event stream, except 204 on resume (ended)."""
        status = response.status_code
        if resuming and status == 204:
            return
        if resuming and status >= 500:
            raise _TryAgain(f"{status} on resume")
        if resuming and status in (404, 410):
            what = "its events were lost" if status == 410 else "the server does not know it"
            raise self._error(f"cannot resume the stream: {what}", status)
        if status == 200:
            raise self._error(f"not an event stream: {response.headers.get('Content-Type')}")
        raise RequestRejected.from_response(response)

    def _failed(self, cause: Exception) -> float:
        """Count a failure: the seconds to wait before resuming, or raise StreamError."""
        self._failures += 1
        if self.request_id is None or (self.delivered and self.last_event_id is None):
            raise self._error(
                "the connection dropped and the stream cannot be resumed "
                f"(the server sent no request id or event ids): {cause!r}"
            ) from cause
        if self._failures > self._max_retries:
            message = f"the connection dropped {self._failures} times in a row: {cause!r}"
            raise self._error(message) from cause
        return min(self.retry_ms / 1000, MAX_RETRY_WAIT)

    def _resume_request(self) -> httpx.Request:
        assert self.request_id is not None
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        request: httpx.Request = self._http.build_request(
            "GET", self._resume_path(self.request_id), headers=headers
        )
        return request

    def _error(self, message: str, status: int | None = None) -> StreamError:
        return StreamError(message, self.request_id, self.last_event_id, status)


class EventStream(_Resumable):
    """The outputs of one streamed request; resumed across dropped connections.

    ``request_id`` (from the first response on), ``last_event_id`` (of the last output
    yielded), ``delivered`` and ``reconnects`` tell where the stream is.
    """

    _http: httpx.Client
    _events: Iterator[ServerSentEvent] | None = None

    def start(self) -> EventStream:
        """Send the request now (iterating does it otherwise); raises RequestRejected."""
        if self._request is not None:
            request, self._request = self._request, None
            self._open(request, resuming=False)
        return self

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> Any:
        self.start()
        while self._events is not None:
            try:
                output = self._accept(next(self._events))
            except StopIteration:
                break
            except httpx.TransportError as err:
                self._reconnect(err)
            except InferlessError:
                self.close()
                raise
            else:
                if output is not _SKIP:
                    return output
        self.close()
        raise StopIteration

    def close(self) -> None:
        """Stop reading. The request keeps running: Client.cancel stops it."""
        response, self._response, self._events, self._request = self._response, None, None, None
        if response is not None:
            response.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open(self, request: httpx.Request, resuming: bool) -> None:
        response = self._http.send(request, stream=True)
        if self._is_stream(response):
            self._events = EventSource(response).iter_sse()
            return
        try:
            response.read()
        finally:
            response.close()
        self._refused(response, resuming)

    def _reconnect(self, cause: Exception) -> None:
        self.close()
        while True:
            time.sleep(self._failed(cause))
            try:
                self._open(self._resume_request(), resuming=True)
            except (httpx.TransportError, _TryAgain) as err:
                cause = err
                continue
            self.reconnects += 1
            return


class AsyncEventStream(_Resumable):
    """The async form of EventStream: ``async for output in client.astream(...)``."""

    _http: httpx.AsyncClient
    _events: AsyncGenerator[ServerSentEvent, None] | None = None

    async def start(self) -> AsyncEventStream:
        """Send the request now (iterating does it otherwise); raises RequestRejected."""
        if self._request is not None:
            request, self._request = self._request, None
            await self._open(request, resuming=False)
        return self

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> Any:
        await self.start()
        while self._events is not None:
            try:
                output = self._accept(await self._events.__anext__())
            except StopAsyncIteration:
                break
            except httpx.TransportError as err:
                await self._reconnect(err)
            except InferlessError:
                await self.aclose()
                raise
            else:
                if output is not _SKIP:
                    return output
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop reading. The request keeps running: Client.acancel stops it."""
        response, events = self._response, self._events
        self._response, self._events, self._request = None, None, None
        if events is not None:
            await events.aclose()
        if response is not None:
            await response.aclose()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _open(self, request: httpx.Request, resuming: bool) -> None:
        response = await self._http.send(request, stream=True)
        if self._is_stream(response):
            self._events = EventSource(response).aiter_sse()
            return
        try:
            await response.aread()
        finally:
            await response.aclose()
        self._refused(response, resuming)

    async def _reconnect(self, cause: Exception) -> None:
        await self.aclose()
        while True:
            await asyncio.sleep(self._failed(cause))
            try:
                await self._open(self._resume_request(), resuming=True)
            except (httpx.TransportError, _TryAgain) as err:
                cause = err
                continue
            self.reconnects += 1
            return
