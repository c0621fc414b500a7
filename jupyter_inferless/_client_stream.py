"""The client's SSE readers, sync and async, that resume a dropped stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from ._client_errors import ClientError
from ._client_resume import SKIP, Resumable, TryAgain


class EventStream(Resumable):
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
            except ClientError:
                self.close()
                raise
            else:
                if output is not SKIP:
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
            except (httpx.TransportError, TryAgain) as err:
                cause = err
                continue
            self.reconnects += 1
            return


class AsyncEventStream(Resumable):
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
            except ClientError:
                await self.aclose()
                raise
            else:
                if output is not SKIP:
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
            except (httpx.TransportError, TryAgain) as err:
                cause = err
                continue
            self.reconnects += 1
            return
