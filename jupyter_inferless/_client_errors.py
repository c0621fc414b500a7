"""The Python client's errors: one hierarchy, rooted in ClientError.

The server's own errors have another root (``jupyter_inferless.contract.InferlessError``):
these are what a client is told. Each carries the ``kind`` the server sent (an ErrorKind
value), and the client decides by it alone, never by the message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .protocol import ErrorKind

if TYPE_CHECKING:
    import httpx

DEFAULT_ERROR_KIND = ErrorKind.MODEL_ERROR.value
"""The kind of an in-band error that names none (Triton's ``{"error": TEXT}``)."""


class ClientError(Exception):
    """Base of every error this client (HTTP, or the inline view's link) raises."""


class RequestRejected(ClientError):
    """The server refused a request before any output (4xx/5xx), with its message.

    ``kind`` is the body's ErrorKind value (``busy``, ``model_not_found``, ...), or ""
    when the answer named none (a proxy's page, say).
    """

    def __init__(
        self, status: int, message: str, retry_after: float | None = None, kind: str = ""
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.kind = kind

    @classmethod
    def from_response(cls, response: httpx.Response) -> RequestRejected:
        """Build from a response whose body has been read."""
        body = _json_object(response)
        message, kind = body.get("error"), body.get("kind")
        if not isinstance(message, str):
            message = response.text.strip()[:500] or response.reason_phrase
        try:
            retry_after: float | None = float(response.headers["Retry-After"])
        except (KeyError, ValueError):
            retry_after = None
        kind = kind if isinstance(kind, str) else ""
        return cls(response.status_code, message, retry_after, kind)


class ModelError(ClientError):
    """The stream ended with an in-band ``{"error": TEXT, "kind": KIND, "type": TYPE}``.

    ``kind`` says why (``model_error``, ``cancelled``, ``kernel_gone``, …; an error without
    one is a ``model_error``); ``type`` is the exception's type (or the kind's label, as
    the server sent it; "" when it sent none) and ``message`` the text after it.
    """

    def __init__(
        self,
        error: str,
        request_id: str | None = None,
        kind: str = DEFAULT_ERROR_KIND,
        error_type: str = "",
    ) -> None:
        super().__init__(error)
        prefix = f"{error_type}: "
        typed = bool(error_type) and error.startswith(prefix)
        self.type = error_type
        self.message = error[len(prefix) :] if typed else error
        self.request_id = request_id
        self.kind = kind


class StreamError(ClientError):
    """A dropped stream could not be resumed; ``status`` is 410 (events lost), 404 or None."""

    def __init__(
        self, message: str, request_id: str | None, last_event_id: int | None, status: int | None
    ) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.last_event_id = last_event_id
        self.status = status


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's body as a JSON object, or {} when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class NoServerError(ClientError, RuntimeError):
    """No Jupyter server with jupyter_inferless is attached to this kernel (or it refuses it)."""
