"""The Python client's errors: one hierarchy, rooted in InferlessError."""

from __future__ import annotations

import re

import httpx

DEFAULT_ERROR_KIND = "model_error"
"""The kind of an in-band error that names none."""
_ERROR_TYPE = re.compile(r"[A-Za-z_][\w.]*")


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
