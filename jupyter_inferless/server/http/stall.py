"""A client that reads nothing is treated as gone: ``StallGuard`` closes its connection.

Tornado has no write timeout. A connected client that stops reading keeps its
subscription, so the disconnect grace never starts, while what is written for it piles up.
An event stream awaits its writes one at a time, each of at most WRITE_BYTES of events, so
a write that has not completed for ``stall_timeout`` seconds means the client drained (next
to) nothing of ours for that long: the guard closes the connection, which ends the
subscriber as a disconnect does (the grace period, then the cancel). Heartbeats are written
only between such writes, never while one waits, so they cannot pass for progress (they
would only pile up in the buffers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

log = logging.getLogger("ServerApp.jupyter_inferless")  # the server log's handlers
WRITE_BYTES = 256 * 1024
"""The most bytes of events one write of an event stream carries (one event at least).

It bounds what waits in a connection's buffer, and sets the slowest client that still
counts as reading: one that drains WRITE_BYTES per ``stall_timeout``.
"""


class StallGuard:
    """Awaits a handler's writes; one its client has not drained for ``timeout`` seconds
    closes the connection and raises StreamClosedError."""

    def __init__(self, handler: RequestHandler, timeout: float, what: str) -> None:
        self.handler = handler
        self.timeout = timeout
        self.what = what  # named in the log: the stream, or the model list

    async def __call__(self, written: Awaitable[None]) -> None:
        """Wait until ``written`` (a write's or a flush's future) completes."""
        future = asyncio.ensure_future(written)
        if future.done():  # the socket took it all at once: the usual case
            future.result()
            return
        try:
            await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except asyncio.TimeoutError:
            future.add_done_callback(_retrieve)
            log.info(
                "%s: the client read nothing for %g s while events waited; closing its "
                "connection (a disconnect)",
                self.what,
                self.timeout,
            )
            self.close()
            raise StreamClosedError() from None

    def close(self) -> None:
        """Close the handler's connection (HTTP/1: its socket)."""
        connection: Any = self.handler.request.connection
        close = getattr(connection, "close", None)
        if close is not None:
            close()


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark the abandoned write's outcome (a closed stream) as seen."""
    if not future.cancelled():
        future.exception()
