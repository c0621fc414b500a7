"""What the client's sync and async stream readers share: the request id, the last event
yielded, the server's retry hint, failures counted, and how to resume."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from ._client_errors import DEFAULT_ERROR_KIND, ModelError, RequestRejected, StreamError
from .protocol import ErrorKind

MAX_RETRY_WAIT = 30.0
"""The longest wait before a reconnection, whatever the server's ``retry:`` hint (seconds)."""
DEFAULT_RETRY_MS = 1000
SKIP = object()
"""What ``Resumable`` returns, on accepting an event, for one that is not an output to yield."""
ERROR_KEYS = frozenset({"error", "kind", "type"})
"""The keys of an in-band error event; ``kind`` and ``type`` may be absent (Triton)."""
LOST = {
    ErrorKind.EVENTS_EVICTED.value: "its events were lost",
    ErrorKind.NOT_FOUND.value: "the server does not know it",
}
"""What a refused resume of these kinds means (others: the server's message)."""


def in_band_error(output: Any, request_id: str | None) -> ModelError | None:
    """The in-band error an event's data is, or None for an output: a string ``error``,
    and no keys but ``kind`` (else ``model_error``) and ``type``."""
    if not isinstance(output, dict) or not isinstance(output.get("error"), str):
        return None
    if not set(output) <= ERROR_KEYS:
        return None
    kind, error_type = output.get("kind"), output.get("type")
    kind = kind if isinstance(kind, str) and kind else DEFAULT_ERROR_KIND
    error_type = error_type if isinstance(error_type, str) else ""
    return ModelError(output["error"], request_id, kind, error_type)


def _position(event_id: str) -> int | None:
    """The position in an event id ("RID:N", or a bare "N"), if it has one."""
    position = event_id.rpartition(":")[2]
    return int(position) if position.isdigit() else None


class TryAgain(Exception):
    """A resume attempt got a 5xx: count it as a failure and try again."""


class Resumable:
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
        """The event's output, or SKIP; raises ModelError for an in-band error."""
        if sse.retry is not None:
            self.retry_ms = sse.retry
        if not sse.data:
            return SKIP
        event_id, last = _position(sse.id), self.last_event_id
        if event_id is not None and last is not None and event_id <= last:
            return SKIP  # yielded before the reconnection
        try:
            output = json.loads(sse.data)
        except ValueError:
            raise self._error(f"event {sse.id or '?'} is not JSON: {sse.data[:80]!r}") from None
        error = in_band_error(output, self.request_id)
        if error is not None:
            raise error
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
        """Raise for a response that is not an event stream, except 204 on resume (ended).

        A 5xx on resume, from the server or a proxy between (which names no kind), is tried
        again; any other refused resume ends the stream (StreamError), said by its kind.
        """
        status = response.status_code
        if resuming and status == 204:
            return
        if status == 200:
            raise self._error(f"not an event stream: {response.headers.get('Content-Type')}")
        if resuming and status >= 500:
            raise TryAgain(f"{status} on resume")
        rejected = RequestRejected.from_response(response)
        if resuming:
            what = LOST.get(rejected.kind, rejected.message)
            raise self._error(f"cannot resume the stream: {what}", status)
        raise rejected

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
