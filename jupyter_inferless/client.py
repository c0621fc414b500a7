"""A Python client for models served by jupyter_inferless, and for Inferless itself.

```python
from jupyter_inferless.client import Client

with Client("http://127.0.0.1:8888/", token) as client:
    for output in client.stream("my-model", prompt="There is a fine house"):
        print(output["OUT"], end="")
```

- ``stream`` yields each event's output dict once, in order. A dropped connection is
  resumed transparently (``Last-Event-ID``), up to ``max_retries`` failures in a row,
  waiting the server's ``retry:`` hint (at most 30 s) before each attempt. A request
  that failed before its stream started is never sent again (httpx's error is raised),
  so a model never runs twice.
- A disconnect is not a cancel: leaving a stream early keeps the request running on
  the server until its grace period ends. ``cancel(stream.request_id)`` stops it.
- ``infer`` is the v2 ``infer`` call, for non-streaming models; on a streaming model it
  raises RequestRejected (400, kind ``model_streams``) pointing to ``stream``.
- Every error is a ClientError; each carries the ``kind`` the server sent (an ErrorKind
  value), and the client decides by it, never by a message.
- For an Inferless deployment use ``api_prefix=""`` and ``auth_scheme="Bearer"``;
  ``models``, ``cancel`` and resuming need this extension's own API.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ._client_errors import ClientError, ModelError, RequestRejected, StreamError
from ._client_stream import AsyncEventStream, EventStream
from .contract import INFER_VERB, STREAM_VERB
from .contract.datatypes import infer_datatype
from .protocol import ErrorKind

__all__ = [
    "AsyncEventStream",
    "Client",
    "ClientError",
    "EventStream",
    "ModelError",
    "RequestRejected",
    "StreamError",
]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
"""Reads time out after 60 s of silence (an idle stream gets a heartbeat every 15 s)."""
TOKEN_VARIABLES = ("JUPYTER_INFERLESS_TOKEN", "JUPYTER_TOKEN")
STREAM_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-store"}


class Client:
    """Calls served models over HTTP: ``stream``/``astream``, ``infer``, ``models``, ``cancel``.

    ``token`` defaults to ``$JUPYTER_INFERLESS_TOKEN``, then ``$JUPYTER_TOKEN``.
    ``base_url`` may hold a base path (``http://host:8888/user/me/``). Use ``close()``
    (or ``with``), and ``aclose()`` (or ``async with``) after ``astream``/``acancel``.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        api_prefix: str = "inferless/",
        auth_scheme: str = "token",
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        token = token or next(filter(None, map(os.environ.get, TOKEN_VARIABLES)), None)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.api_prefix = api_prefix
        self.max_retries = max_retries
        self._options: dict[str, Any] = {
            "base_url": self.base_url,
            "headers": {"Authorization": f"{auth_scheme} {token}"} if token else {},
            "timeout": timeout,
        }
        self._http = httpx.Client(transport=transport, **self._options)
        self._async_transport = async_transport
        self._ahttp: httpx.AsyncClient | None = None

    def stream(
        self, model: str, inputs: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> EventStream:
        """Stream a model's outputs; inputs as a mapping and/or keywords.

        The request is sent on the first ``next()`` (or ``.start()``); ``request_id``
        is set from then on. Raises RequestRejected, ModelError or StreamError.
        """
        request = self._stream_request(self._http, model, {**(inputs or {}), **kwargs})
        return EventStream(self._http, request, self._stream_path, self.max_retries)

    def astream(
        self, model: str, inputs: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> AsyncEventStream:
        """The async form of ``stream``: ``async for output in client.astream(...)``."""
        http = self._async_http()
        request = self._stream_request(http, model, {**(inputs or {}), **kwargs})
        return AsyncEventStream(http, request, self._stream_path, self.max_retries)

    def infer(
        self, model: str, inputs: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> dict[str, Any]:
        """Run a non-streaming model once (v2 ``infer``); returns ``{output: value}``.

        Inputs and outputs of shape ``[1]`` are scalars, others lists; dict inputs are
        sent as JSON strings.
        """
        values = {**(inputs or {}), **kwargs}
        body = {"inputs": [_tensor(name, value) for name, value in values.items()]}
        try:
            reply = self._call("POST", self._model_path(model, INFER_VERB), body)
        except RequestRejected as err:
            if err.kind == ErrorKind.MODEL_STREAMS:
                hint = f"{err.message} (use Client.stream for a streaming model)"
                raise RequestRejected(err.status, hint, err.retry_after, err.kind) from None
            raise
        return {tensor["name"]: _untensor(tensor) for tensor in reply.get("outputs", [])}

    def models(self) -> list[dict[str, Any]]:
        """Every served model: name, schema (inputs, streaming), kernel, device, counters."""
        models: list[dict[str, Any]] = self._call("GET", f"{self.api_prefix}api/models")["models"]
        return models

    def cancel(self, request_id: str) -> dict[str, Any]:
        """Cancel a streamed request down to the model's loop; its stream ends in ModelError."""
        reply: dict[str, Any] = self._call("DELETE", self._stream_path(request_id))
        return reply

    async def acancel(self, request_id: str) -> dict[str, Any]:
        """The async form of ``cancel``."""
        response = await self._async_http().delete(self._stream_path(request_id))
        return _json_reply(response)

    def close(self) -> None:
        """Close the connections of the sync client."""
        self._http.close()

    async def aclose(self) -> None:
        """Close every connection, sync and async."""
        self._http.close()
        if self._ahttp is not None:
            await self._ahttp.aclose()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _async_http(self) -> httpx.AsyncClient:
        if self._ahttp is None:
            self._ahttp = httpx.AsyncClient(transport=self._async_transport, **self._options)
        return self._ahttp

    def _stream_request(
        self, http: httpx.Client | httpx.AsyncClient, model: str, inputs: dict[str, Any]
    ) -> httpx.Request:
        path = self._model_path(model, STREAM_VERB)
        return http.build_request("POST", path, json=inputs, headers=STREAM_HEADERS)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return _json_reply(self._http.request(method, path, json=body))

    def _model_path(self, model: str, action: str) -> str:
        return f"{self.api_prefix}v2/models/{quote(model, safe='')}/{action}"

    def _stream_path(self, request_id: str) -> str:
        return f"{self.api_prefix}api/streams/{quote(request_id, safe='')}"


def _json_reply(response: httpx.Response) -> Any:
    if response.is_error:
        raise RequestRejected.from_response(response)
    return response.json()


def _tensor(name: str, value: Any) -> dict[str, Any]:
    """A v2 input tensor: scalars have shape [1]; nested lists keep their shape."""
    if isinstance(value, Mapping):
        value = json.dumps(value)
    data = list(value) if isinstance(value, (list, tuple)) else [value]
    shape: list[int] = [len(data)]
    first: Any = data
    while first and isinstance(first[0], (list, tuple)):
        first = first[0]
        shape.append(len(first))
    return {"name": name, "shape": shape, "datatype": infer_datatype(first), "data": data}


def _untensor(tensor: Mapping[str, Any]) -> Any:
    data = tensor.get("data")
    if tensor.get("shape") == [1] and isinstance(data, list) and len(data) == 1:
        return data[0]
    return data
