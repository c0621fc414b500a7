"""Request bodies read as they arrive: only from an authenticated client, never past a limit.

Without tornado's ``stream_request_body`` the whole body is read into memory before the
handler runs, so a client could send hundreds of megabytes before its credentials, or the
size, were looked at. Here ``prepare`` runs once the headers are in: ``limit_body`` refuses
a body from a client that is not authenticated (403) and one whose Content-Length is over
the limit (413) before a byte of it is read; tornado then closes the connection once the
answer is sent, the rest unread. A body without a length (chunked) is kept only up to the
limit; past it, 413. The HTTP method, which tornado calls once the body is in, then finds
it whole in ``request.body``, as it would without streaming.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from tornado import web


@web.stream_request_body
class LimitedBody(web.RequestHandler):
    """A handler whose ``prepare`` calls ``limit_body`` once the client is authenticated."""

    _body_chunks: list[bytes] | None = None  # the body read so far; None: none is wanted
    _body_size = 0
    _body_limit = 0

    def limit_body(self, limit: int) -> None:
        """Before any of the body is read: 403 when a client that is not authenticated sends
        one, 413 when its Content-Length is over ``limit``; else read it up to ``limit``."""
        headers = self.request.headers
        declared = headers.get("Content-Length", "").strip()
        if declared in ("", "0") and "Transfer-Encoding" not in headers:
            return
        if self.current_user is None:
            raise web.HTTPError(403)
        if declared.isdigit() and int(declared) > limit:
            raise web.HTTPError(413, f"the body is larger than {limit} bytes")
        self._body_chunks, self._body_limit = [], limit
        # Tornado looks the HTTP method up on the handler once the body is in: this request's
        # own attribute puts the body together first (the class's methods stay as they are,
        # so that jupyter_server sees their @web.authenticated).
        verb = (self.request.method or "").lower()
        setattr(self, verb, functools.partial(_with_body, self, getattr(self, verb)))

    def data_received(self, chunk: bytes) -> None:
        """A piece of the body: kept while the body is within the limit; past it, 413 (the
        connection closes once it is sent, the rest unread)."""
        if self._body_chunks is None:
            return
        self._body_size += len(chunk)
        if self._body_size <= self._body_limit:
            self._body_chunks.append(chunk)
            return
        self._body_chunks = None
        error = web.HTTPError(413, f"the body is larger than {self._body_limit} bytes")
        self.log_exception(type(error), error, None)
        self.send_error(413, exc_info=(type(error), error, None))

    def gather_body(self) -> None:
        """Put the pieces read so far in ``request.body``."""
        if self._body_chunks:
            self.request.body = b"".join(self._body_chunks)
            self._body_chunks = []


def _with_body(handler: LimitedBody, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``method`` (bound to ``handler``) with the whole body in ``request.body``."""
    handler.gather_body()
    return method(*args, **kwargs)
