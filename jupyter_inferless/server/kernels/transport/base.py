"""What every transport does the same way, over channels a subclass provides.

The base keeps the serving comm: it asks ``kernel_info`` on control, creates a subshell
when the kernel lists ``kernel subshells`` (otherwise requests wait while a cell runs),
sends ``comm_open``, ``comm_msg`` and ``comm_close`` on shell with the subshell's header,
frames a large request's message in a decode thread (``prepared.py``), and drains what
the kernel sends: at each wake-up every message already received, up to DRAIN_MESSAGES,
then the server's loop runs on. When the server falls behind, each stream's writer then
wakes once for several frames and writes their events in one chunk, instead of the queue
growing by a frame per turn.

A transport provides its channels; the reader (``_read``) drains them:

- ``_open`` and ``_close_channels``: open the channels (a transport that must connect
  first does so in ``_read``, then drains), and close them;
- ``_exchange``: send a control request, return its reply's content;
- ``_write_shell``: sign (or have signed) and send a message on shell;
- ``_frame`` and ``send_prepared``: a prepared comm message's wire form, and its send;
- ``_receive`` and ``_receive_nowait``: the kernel's next message, awaited (``None``: the
  channels closed) or only if already received (``None``: none yet);
- ``_dispatch``: read one message, handing a comm message of ours to ``_deliver``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from typing import Any, ClassVar, Generic, TypeVar

from jupyter_client.session import Session

from ....protocol import LINK_COMM_PREFIX, TARGET_NAME, CommMessage, OpenData
from . import OnLost, OnMessage, prepared

CONTROL_TIMEOUT = 5.0  # seconds to wait for a control reply
DRAIN_MESSAGES = 64  # messages taken from the kernel in one turn of the server's loop, at most
log = logging.getLogger("ServerApp.jupyter_inferless")  # the server log's handlers

Incoming = TypeVar("Incoming")
"""One message as the transport's channel delivers it."""
Ready = TypeVar("Ready")
"""A comm message in its wire form, made ready by a decode thread."""


def _ignore(reason: str) -> None:
    """The default ``on_lost``: the transport's owner hears a death some other way."""


class BaseTransport(ABC, Generic[Incoming, Ready]):
    """One kernel's serving comm over channels a subclass provides."""

    LINK_ERRORS: ClassVar[tuple[type[Exception], ...]] = (ConnectionError,)
    """What a channel raises when the kernel cannot be reached (besides a timeout)."""

    WHAT: ClassVar[str] = "kernel"
    """How the log names the kernels this transport reaches."""

    text_frames: bool
    """Whether the kernel must send frames without a binary buffer (their events as text)."""

    def __init__(
        self,
        kernel_id: str,
        kernel_manager: Any,
        on_message: OnMessage,
        on_lost: OnLost | None = None,
    ) -> None:
        """Open the channels to the kernel ``kernel_manager`` runs, and start reading."""
        self.kernel_id = kernel_id
        self.comm_id: str | None = None
        """The serving comm, once opened."""
        self.subshell_id: str | None = None
        """The serving comm's subshell, when the kernel has them."""
        self._on_message = on_message
        self._on_lost: OnLost = on_lost or _ignore
        self._control_lock = asyncio.Lock()
        self.session = self._open(kernel_manager)
        """Makes (and, when it has the kernel's key, signs) the messages we send."""
        self._reader = asyncio.ensure_future(self._read())

    # -- what the base does -----------------------------------------------------

    async def open_comm(self, data: OpenData) -> bool:
        """Open the serving comm, on a subshell when the kernel has them; False (and
        logged) when the kernel did not answer."""
        failures: tuple[type[Exception], ...] = (asyncio.TimeoutError, *self.LINK_ERRORS)
        try:
            info = await self._control_request("kernel_info_request", {})
            if "kernel subshells" in info.get("supported_features", []):
                reply = await self._control_request("create_subshell_request", {})
                self.subshell_id = reply.get("subshell_id")
            else:
                log.warning(
                    "%s %s has no subshells (ipykernel < 7); models are served from the "
                    "main shell and wait while a cell runs",
                    self.WHAT,
                    self.kernel_id,
                )
            self.comm_id = LINK_COMM_PREFIX + uuid.uuid4().hex
            self._send_shell(
                "comm_open", {"comm_id": self.comm_id, "target_name": TARGET_NAME, "data": data}
            )
        except failures as err:
            log.warning("could not link to %s %s: %s", self.WHAT, self.kernel_id, err)
            self.comm_id = None
            return False
        return True

    def send(self, data: CommMessage) -> None:
        """Send a message on the serving comm."""
        self._send_shell("comm_msg", {"comm_id": self.comm_id, "data": data})

    def prepare(self, data: CommMessage) -> Ready:
        """A message on the serving comm in its wire form (by a decode thread);
        ConnectionError when the comm is closed."""
        parts = prepared.comm_msg_parts(self.session, self.comm_id, self.subshell_id, data)
        return self._frame(parts)

    def close_comm(self) -> None:
        """Close the serving comm; the kernel cancels the requests it carried."""
        if self.comm_id is not None:
            self._send_shell("comm_close", {"comm_id": self.comm_id, "data": {}})
        self.forget()

    def forget(self) -> None:
        """Forget the serving comm and its subshell without closing it (the kernel is gone)."""
        self.comm_id = self.subshell_id = None

    async def close(self) -> None:
        """Stop reading and close the channels."""
        self._reader.cancel()
        self._close_channels()

    async def _read(self) -> None:
        """What the reader does: drain the channels (a transport may connect first)."""
        await self._drain()

    async def _drain(self) -> None:
        """Hand on every message the kernel sends, until its channel closes."""
        receive, receive_nowait, take = self._receive, self._receive_nowait, self._take
        while (message := await receive()) is not None:
            take(message)
            for _ in range(DRAIN_MESSAGES - 1):
                if (message := receive_nowait()) is None:
                    break
                take(message)
            await asyncio.sleep(0)  # a ready receive does not yield; let the server breathe

    def _take(self, message: Incoming) -> None:
        try:
            self._dispatch(message)
        except Exception:
            log.exception("bad message from %s %s", self.WHAT, self.kernel_id)

    def _deliver(self, content: dict[str, Any], buffers: list[Any]) -> None:
        """Hand on a comm message's content and buffers."""
        self._on_message(content.get("comm_id"), content.get("data") or {}, buffers)

    async def _control_request(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
        """The content of the kernel's reply to a control request, one request at a time."""
        async with self._control_lock:
            return await self._exchange(self.session.msg(msg_type, content))

    def _send_shell(self, msg_type: str, content: dict[str, Any]) -> None:
        msg = self.session.msg(msg_type, content)
        if self.subshell_id is not None:
            msg["header"]["subshell_id"] = self.subshell_id
        self._write_shell(msg)

    # -- what a transport provides ----------------------------------------------

    @abstractmethod
    def _open(self, kernel_manager: Any) -> Session:
        """Open (or begin opening) the channels; the session for the kernel's messages."""

    @abstractmethod
    def _close_channels(self) -> None:
        """Close the channels (the reader is already cancelled)."""

    @abstractmethod
    async def _exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send a control request; the content of its reply (TimeoutError after
        CONTROL_TIMEOUT, or one of LINK_ERRORS)."""

    @abstractmethod
    def _write_shell(self, msg: dict[str, Any]) -> None:
        """Send a message on shell (dropped, and logged, when the channel is closed)."""

    @abstractmethod
    def _frame(self, parts: list[prepared.Part]) -> Ready:
        """The wire form of a comm message's packed parts (called by a decode thread)."""

    @abstractmethod
    def send_prepared(self, ready: Ready) -> None:
        """Send what ``prepare`` made, after the messages sent before it."""

    @abstractmethod
    def _receive(self) -> Awaitable[Incoming | None]:
        """The kernel's next message; None once the channel is closed."""

    @abstractmethod
    def _receive_nowait(self) -> Incoming | None:
        """The kernel's next message if already received, else None."""

    @abstractmethod
    def _dispatch(self, message: Incoming) -> None:
        """Read one message, and ``_deliver`` it if it is a comm message of ours."""
