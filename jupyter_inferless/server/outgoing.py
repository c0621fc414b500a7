"""Messages to one kernel, sent once per turn of the server's loop.

Every comm message costs the kernel about a millisecond of CPU whatever it carries
(ipykernel's dispatch on the subshell: busy and idle statuses, two flushes, hooks). So what
the server sends a kernel during one turn of its loop (a burst of requests, their cancels,
an acknowledgement) waits for the end of that turn and goes as one message: alone as it is,
several as a ``batch`` the kernel handles in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..protocol import CommMessage, ServerMessage, batch

log = logging.getLogger("ServerApp.jupyter_inferless")

Send = Callable[[CommMessage], None]
OnFailed = Callable[[list[ServerMessage]], None]


class Outgoing:
    """A queue of messages for one kernel, flushed at the end of the loop's turn."""

    def __init__(self, send: Send, on_failed: OnFailed) -> None:
        """``send`` puts one comm message on the link; ``on_failed`` hears the messages of
        a send that raised (the link went), so their requests can end."""
        self._send = send
        self._on_failed = on_failed
        self._queue: list[ServerMessage] = []
        self._handle: asyncio.Handle | None = None

    def put(self, message: ServerMessage) -> None:
        """Queue a message; it leaves with the others of this turn."""
        self._queue.append(message)
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send what is queued now."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        messages, self._queue = self._queue, []
        if not messages:
            return
        try:
            self._send(messages[0] if len(messages) == 1 else batch(messages))
        except Exception:
            log.warning("could not send %d message(s) to the kernel", len(messages), exc_info=True)
            self._on_failed(messages)

    def clear(self) -> None:
        """Forget what is queued (the link went)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._queue = []
