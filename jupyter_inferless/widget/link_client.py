"""The inline view's way to the server: this kernel's own link, not HTTP.

:class:`LinkClient` offers what the view's runner uses of the HTTP
:class:`~jupyter_inferless.client.Client` (``stream``, ``cancel``, ``models``, ``close``)
and raises the same errors, so a view behaves the same by the rulebook. It sends
``watch``, ``unwatch`` and ``list`` on the link the server opened and reads the server's
answers from the link manager's mailboxes, so it needs no URL and no credential: it works
with a password login, under JupyterHub, and in a kernel on another machine.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .. import protocol
from .._client_errors import ModelError, NoServerError, RequestRejected, StreamError
from ..protocol import ListedMessage, RunError, WatchedMessage
from .running import close_runs

if TYPE_CHECKING:
    from ..kernel.link import Link
    from ..kernel.links import LinkManager
    from ..kernel.mailboxes import Answer

LINK_WAIT = 3.0  # seconds to wait for a server to link after %load_ext
SILENCE = 60.0
"""Seconds without a word from the server (it sends an empty batch every heartbeat
interval, 15 s) before a stream counts as lost, as the HTTP client's read timeout."""


def link_client(wait: float = LINK_WAIT) -> LinkClient:
    """A client over this kernel's link to its Jupyter server.

    A kernel links to its server within a second or so of ``%load_ext``; waits up to
    ``wait`` seconds for that before saying that no server is attached.
    """
    from ..kernel.runtime import Runtime

    runtime = Runtime.current()
    runtime.on_close(close_runs)  # the runtime closing stops the views
    links = runtime.link_manager
    link = links.link(wait)
    refusal = links.refusal()
    if link is None and refusal is not None:
        raise NoServerError(f"the Jupyter server refuses this kernel: {refusal}")
    if link is None:
        raise NoServerError(
            "no Jupyter server with jupyter_inferless is attached to this kernel, so there "
            "is nothing to stream from; run this in a notebook whose kernel the Jupyter "
            "server started (with the jupyter_inferless server extension enabled)"
        )
    return LinkClient(links, link)


class LinkClient:
    """Streams, cancels and lists over one link, with the HTTP client's errors."""

    def __init__(self, links: LinkManager, link: Link, silence: float = SILENCE) -> None:
        self.links = links
        self.link = link
        self.silence = silence
        self.closed = False
        self._views: dict[str, str] = {}  # view id by request id, for cancel
        self._keys: set[str] = set()  # the open mailboxes of this client's streams and queries
        self._lock = threading.Lock()

    def stream(self, model: str, inputs: Mapping[str, Any] | None = None, /) -> LinkStream:
        """A stream of ``model``'s outputs; the request is sent by ``start()`` (or the
        first ``next()``). Raises RequestRejected, ModelError or StreamError."""
        return LinkStream(self, model, dict(inputs or {}))

    def cancel(self, request_id: str) -> dict[str, Any]:
        """Cancel a streamed request down to the model's loop (its stream ends in ModelError)."""
        vid = self._views.get(request_id)
        if vid is None:
            raise KeyError(f"no stream {request_id!r} of this view")
        self.link.publish(protocol.unwatch(vid))
        return {"id": request_id, "cancelled": True, "state": "cancelling"}

    def models(self) -> list[dict[str, Any]]:
        """Every served model, as the server lists them."""
        qid = uuid.uuid4().hex
        box = self.open_mailbox(qid)
        try:
            self.link.publish(protocol.list_models(qid))
            answer = _answer(box, self.silence, "listed")
        finally:
            self.close_mailbox(qid)
        assert answer["op"] == "listed"  # what _answer checked, for the type checker
        return list(answer["models"])

    def open_mailbox(self, key: str) -> queue.Queue[Answer]:
        """A mailbox for the server's answers to request ``key`` on this client's link;
        StreamError once the client is closed."""
        with self._lock:
            if self.closed:
                raise StreamError("the view's client was closed", None, None, None)
            self._keys.add(key)
        return self.links.mailboxes.open(key, self.link.comm_id)

    def close_mailbox(self, key: str) -> None:
        """No more answers are wanted for ``key``; a reader waiting for one gets StreamError."""
        with self._lock:
            self._keys.discard(key)
        self.links.mailboxes.close(key)

    def started(self, request_id: str, vid: str) -> None:
        """The server accepted view ``vid``'s request as ``request_id`` (for ``cancel``)."""
        with self._lock:
            self._views[request_id] = vid

    def close(self) -> None:
        """Stop reading every stream of this client, waking a reader that waits (their runs
        keep going; cancel stops them)."""
        with self._lock:
            self.closed = True
            keys = list(self._keys)
            self._keys.clear()
            self._views.clear()
        for key in keys:
            self.links.mailboxes.close(key)


class LinkStream:
    """The outputs of one request over the link; ``request_id`` once started."""

    def __init__(self, client: LinkClient, model: str, inputs: dict[str, Any]) -> None:
        self.client = client
        self.model = model
        self.inputs = inputs
        self.request_id: str | None = None
        self.delivered = 0
        self._vid = uuid.uuid4().hex
        self._box: queue.Queue[Answer] | None = None
        self._pending: deque[str] = deque()
        self._ended = False
        self._error: RunError | None = None

    def start(self) -> LinkStream:
        """Send the request and wait for the server's answer; raises RequestRejected."""
        if self._box is not None:
            return self
        client = self.client
        self._box = client.open_mailbox(self._vid)
        client.link.publish(protocol.watch(self._vid, self.model, self.inputs))
        answer = self._next_answer()
        refused = answer["refused"]
        if refused:
            self.close()
            raise RequestRejected(refused["status"], refused["message"], kind=refused["kind"].value)
        self.request_id = answer["rid"]
        client.started(self.request_id, self._vid)
        self._take(answer)
        return self

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        self.start()
        while not self._pending:
            if self._ended:
                self.close()
                if self._error:
                    error = self._error
                    kind = error["kind"].value
                    raise ModelError(error["message"], self.request_id, kind, error["type"])
                raise StopIteration
            self._take(self._next_answer())
        self.delivered += 1
        return json.loads(self._pending.popleft())

    def close(self) -> None:
        """Stop reading. The request keeps running: LinkClient.cancel stops it."""
        self.client.close_mailbox(self._vid)
        self._ended = True
        self._pending.clear()

    def _take(self, answer: WatchedMessage) -> None:
        self._pending.extend(answer["lines"])
        if answer["ended"]:
            self._ended = True
            self._error = answer["error"]

    def _next_answer(self) -> WatchedMessage:
        assert self._box is not None
        try:
            answer = _answer(self._box, self.client.silence, "watched")
            assert answer["op"] == "watched"  # what _answer checked, for the type checker
            return answer
        except StreamError as err:
            self.client.close_mailbox(self._vid)
            last = self.delivered - 1 if self.delivered else None
            raise StreamError(str(err), self.request_id, last, None) from None


def _answer(box: queue.Queue[Answer], silence: float, op: str) -> WatchedMessage | ListedMessage:
    """The next answer in ``box``, an ``op`` message; StreamError when the link closed or
    stayed silent, or the server answered with another message."""
    try:
        answer = box.get(timeout=silence)
    except queue.Empty:
        raise StreamError(
            f"no word from the Jupyter server for {silence:g} s", None, None, None
        ) from None
    if answer is None:
        raise StreamError(
            "the Jupyter server's link to this kernel closed (or the view's client did)",
            None,
            None,
            None,
        )
    if answer["op"] != op:
        raise StreamError(
            f"the server answered with {answer['op']!r}, not {op!r}", None, None, None
        )
    return answer
