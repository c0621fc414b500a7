"""Messages to one kernel, sent once per turn of the server's loop.

Every comm message costs the kernel about a millisecond of CPU whatever it carries
(ipykernel's dispatch on the subshell: busy and idle statuses, two flushes, hooks). So what
the server sends a kernel during one turn of its loop (a burst of requests, their cancels,
an acknowledgement) waits for the end of that turn and goes as one message: alone as it is,
several as a ``batch`` the kernel handles in order.

A message that cannot be packed (json) never takes its batch with it: ``check_packable``
refuses it before its request is answered, and should one reach a batch anyway, it alone
is handed back and the others are sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from jupyter_client.session import json_packer

from ...protocol import CommMessage, ServerMessage, batch
from ..decode.json_pack import RawJSON

log = logging.getLogger("ServerApp.jupyter_inferless")

Send = Callable[[CommMessage], None]
OnFailed = Callable[[list[ServerMessage], Exception], None]
UNPACKABLE = (TypeError, ValueError, RecursionError)
"""What packing a message that JSON cannot carry raises."""


def check_packable(message: ServerMessage) -> None:
    """Raise what packing ``message`` would raise (UNPACKABLE), packed as deep as it ever
    travels: in a batch, in a comm message's content."""
    json_packer({"comm_id": "", "data": batch([message])})


class Preparer(Protocol):
    """Makes a comm message ready to send in any thread, and sends it (a transport)."""

    def prepare(self, data: CommMessage) -> Any:
        """The message's wire form; ConnectionError when the link is closed."""

    def send_prepared(self, prepared: Any) -> None:
        """Send what ``prepare`` made."""


class TurnLoop(Protocol):
    """Where the flush at the end of a turn is scheduled (an asyncio loop is one)."""

    def call_soon(self, callback: Callable[[], object]) -> asyncio.Handle:
        """Call ``callback`` in the next turn."""
        ...


class Outgoing:
    """A queue of messages for one kernel, flushed at the end of the loop's turn."""

    def __init__(
        self,
        send: Send,
        on_failed: OnFailed,
        link: Preparer | None = None,
        loop: Callable[[], TurnLoop] = asyncio.get_running_loop,
    ) -> None:
        """``send`` puts one comm message on the link; ``on_failed`` hears the messages of
        a send that raised, and the error (the link went, or they cannot be packed), so
        their requests can end. ``link`` makes ready and sends a large request's message.
        ``loop`` returns the loop the flush runs on (a test steps its turns by hand)."""
        self._loop = loop
        self._send = send
        self._on_failed = on_failed
        self._link = link
        self._queue: list[ServerMessage] = []
        self._handle: asyncio.Handle | None = None
        self._held = 0  # large messages being made ready: what was put after them waits

    def put(self, message: ServerMessage) -> None:
        """Queue a message; it leaves with the others of this turn. A request whose inputs
        a decode thread packed (RawJSON) leaves alone, once a thread has made it ready."""
        inputs = message.get("inputs") if message["op"] == "infer" else None
        if isinstance(inputs, RawJSON) and self._link is not None:
            self._put_large(message, inputs)
            return
        self._queue.append(message)
        if self._handle is None:
            self._handle = self._loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send what is queued now."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._held:
            return  # sent once the large messages put before them are
        messages, self._queue = self._queue, []
        if messages:
            self._send_or_hand_back(messages, split=True)

    def _send_or_hand_back(self, messages: list[ServerMessage], split: bool) -> None:
        try:
            self._send(messages[0] if len(messages) == 1 else batch(messages))
        except UNPACKABLE as err:
            if split and len(messages) > 1:
                self._send_apart(messages, err)
                return
            log.warning("could not pack %d message(s) for the kernel: %s", len(messages), err)
            self._on_failed(messages, err)
        except Exception as err:
            log.warning("could not send %d message(s) to the kernel", len(messages), exc_info=True)
            self._on_failed(messages, err)

    def _send_apart(self, messages: list[ServerMessage], err: Exception) -> None:
        """A batch could not be packed: hand back the messages that cannot be, each alone,
        and send the others."""
        packable: list[ServerMessage] = []
        for message in messages:
            try:
                check_packable(message)
            except UNPACKABLE as own:
                log.warning("could not pack a %r message for the kernel: %s", message["op"], own)
                self._on_failed([message], own)
            else:
                packable.append(message)
        if len(packable) < len(messages):
            if packable:
                self._send_or_hand_back(packable, split=False)
            return
        log.warning("could not pack a batch for the kernel (%s): sending its messages apart", err)
        for message in messages:  # each packs alone: then each goes alone
            self._send_or_hand_back([message], split=False)

    def _put_large(self, message: ServerMessage, inputs: RawJSON) -> None:
        """Send ``message`` once a decode thread has made it ready (``link.prepare``):
        what was put before it goes first, what is put after it waits for it (two large
        ones may pass each other: they are different requests)."""
        link = self._link
        assert link is not None
        self.flush()
        self._held += 1
        ready = inputs.offload(lambda: link.prepare(message))
        ready.add_done_callback(lambda done: self._send_large(message, done))

    def _send_large(self, message: ServerMessage, ready: asyncio.Future[Any]) -> None:
        self._held -= 1
        try:
            self._link.send_prepared(ready.result())  # type: ignore[union-attr]
        except (Exception, asyncio.CancelledError) as err:
            log.warning("could not send a large request to the kernel: %s", err)
            self._on_failed([message], err if isinstance(err, Exception) else ConnectionError())
        self.flush()

    def clear(self) -> None:
        """Forget what is queued (the link went)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._queue = []
