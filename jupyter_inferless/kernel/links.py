"""The servers linked to this kernel: their links, the announcement, the news of changes.

While no server is linked, the kernel announces its runtime on the pseudo-comm
``ANNOUNCE_COMM_ID`` (every 0.2 s for 5 s after a change, then every 5 s); a server's
bridge answers by opening the serving comm. The announcing thread runs only while that is
wanted: no server is linked, and models are served, or the runtime just started, or a view
waits for a link. Each linked server is told of every change to the served models, and
answers with its verdict on each (``verdict``): how many kernels serve the name as one
model, or why it refuses this kernel's.

The kernel's own views ask a linked server over the same link (``watch``, ``list``); the
server's answers go to ``mailboxes``. No credential of the server reaches the kernel.

A server of another protocol version links only to refuse this kernel (``Link.refusal``):
it is told the served models on that link (``announce``), and its verdict on each is a
refusal naming both versions, which ``serve`` raises. Views never use such a link.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..protocol import (
    ANNOUNCE_COMM_ID,
    TARGET_NAME,
    AnnounceMessage,
    ModelDescription,
    Verdict,
    announce,
    hello,
)
from ..protocol import models_changed as models_message
from .link import Link, StartRequest, iopub_publisher
from .mailboxes import Mailboxes

log = logging.getLogger("jupyter_inferless.kernel")
FAST_ANNOUNCE = 0.2  # seconds between announcements just after a change
SLOW_ANNOUNCE = 5.0
FAST_FOR = 5.0  # seconds of fast announcements after a change


class LinkManager:
    """Every server linked to this kernel, by comm id."""

    def __init__(
        self,
        kernel: Any,
        runtime_id: str,
        describe: Callable[[], list[ModelDescription]],
        start: StartRequest,
        serving: Callable[[], bool] = lambda: True,
    ) -> None:
        self.kernel = kernel
        self.runtime_id = runtime_id
        self.links: dict[str, Link] = {}
        self.mailboxes = Mailboxes()  # the servers' answers to this kernel's views
        self._describe = describe
        self._start = start
        self._serving = serving
        self._announce = iopub_publisher(kernel, ANNOUNCE_COMM_ID, None)
        self._linked = threading.Event()
        self._heard = threading.Condition()  # a server's verdicts arrived
        self._refused: dict[str, str] = {}  # the refusals logged, by model name
        self._kick = threading.Event()
        self._fast_until = time.monotonic() + FAST_FOR
        self._closed = threading.Event()
        self._beacon_lock = threading.Lock()
        self._beacon_thread: threading.Thread | None = None
        kernel.comm_manager.register_target(TARGET_NAME, self._on_open)
        self._announce_soon()

    def link(self, wait: float = 0.0) -> Link | None:
        """A linked server's link, for this kernel's own requests (the first linked).

        A server links within moments of ``%load_ext``; ``wait`` gives it that long.
        """
        self._await_link(wait)
        return next(iter(self._serving_links()), None)

    def refusal(self) -> str | None:
        """Why a linked server refuses this kernel (another protocol version), if one does."""
        return next((link.refusal for link in list(self.links.values()) if link.refusal), None)

    def server_url(self, wait: float = 0.0) -> str | None:
        """The URL a linked Jupyter server gave for itself (to print), when one is linked."""
        self._await_link(wait)
        urls = (link.server_url for link in self._serving_links() if link.server_url)
        return next(urls, None)

    def models_changed(self) -> None:
        """Tell every linked server which models are served now (one that refuses this
        kernel: by name and generation); announce faster."""
        described = self._describe()
        message = models_message(self.runtime_id, described)
        names = announce(self.runtime_id, _generations(described))
        for link in list(self.links.values()):
            try:
                link.publish(names if link.refusal else message)
            except Exception:  # IOPub is closed at kernel exit; finalize must still run
                log.debug("could not tell the server about the change", exc_info=True)
        if described:
            self._fast_until = time.monotonic() + FAST_FOR
        self._announce_soon()  # or, with nothing served, the announcing ends

    def verdict(self, name: str, generation: int = 0, wait: float = 0.0) -> Verdict | None:
        """The linked servers' verdict on model ``name`` (a refusal first), of its
        ``generation`` or a later one; waits up to ``wait`` s for every server's."""
        deadline = time.monotonic() + wait
        with self._heard:
            while True:
                links = list(self.links.values())
                verdicts = [link.verdicts.get(name) for link in links]
                heard = [v for v in verdicts if v is not None and v["generation"] >= generation]
                remaining = deadline - time.monotonic()
                if len(heard) == len(links) or remaining <= 0:
                    break
                self._heard.wait(remaining)
        refused = [v for v in heard if v["refused"]]
        return next(iter(refused or heard), None)

    def _on_verdicts(self, link: Link) -> None:
        """A server told its verdicts: wake a waiting serve; log a new refusal."""
        with self._heard:
            self._heard.notify_all()
        for name, verdict in link.verdicts.items():
            refusal = verdict["refused"]
            if refusal and self._refused.get(name) != refusal:
                log.warning("the server refuses %r from this kernel: %s", name, refusal)
            if refusal:
                self._refused[name] = refusal
            else:
                self._refused.pop(name, None)

    def _on_open(self, comm: Any, open_msg: dict[str, Any]) -> None:
        link = Link(
            self.kernel,
            comm,
            open_msg,
            self._start,
            self._on_close,
            self._on_verdicts,
            self.mailboxes.deliver,
        )
        self.links[link.comm_id] = link
        if link.refusal is not None:
            log.warning("a Jupyter server refuses this kernel: %s", link.refusal)
            link.publish(self._announcement())  # it answers with its verdicts
            return
        link.publish(hello(self.runtime_id, self._describe()))
        self._linked.set()

    def _on_close(self, link: Link) -> None:
        self.links.pop(link.comm_id, None)
        self.mailboxes.link_closed(link.comm_id)
        if not self._serving_links():
            self._linked.clear()
        if not self.links:
            self._announce_soon()

    def _serving_links(self) -> list[Link]:
        """The links of servers that serve from this kernel (not those that refuse it)."""
        return [link for link in list(self.links.values()) if link.refusal is None]

    def _announcement(self) -> AnnounceMessage:
        return announce(self.runtime_id, _generations(self._describe()))

    def close(self, timeout: float) -> None:
        """Stop announcing, take the comm target back and close every link (its outbox
        thread stopped); waits up to ``timeout`` s for each thread."""
        self._closed.set()
        self._kick.set()
        manager = self.kernel.comm_manager
        if manager.targets.get(TARGET_NAME) == self._on_open:
            manager.unregister_target(TARGET_NAME, self._on_open)
        for link in list(self.links.values()):
            link.close(timeout)
        with self._heard:
            self._heard.notify_all()  # a serve waiting for a verdict hears no more
        with self._beacon_lock:
            beacon = self._beacon_thread
        if beacon is not None:
            beacon.join(timeout)

    def _await_link(self, wait: float) -> None:
        """Wait up to ``wait`` s for a server to link, announcing meanwhile."""
        if wait > 0 and not self.links:
            self._fast_until = max(self._fast_until, time.monotonic() + wait)
            self._announce_soon()
        self._linked.wait(wait)

    def _wanted(self) -> bool:
        """Whether to announce: no server is linked, and one is wanted."""
        if self._closed.is_set() or self.links:
            return False
        return self._serving() or time.monotonic() < self._fast_until

    def _announce_soon(self) -> None:
        """Announce at once: start the announcing thread when it is wanted, or wake it
        (to announce, or to see that it is no longer wanted)."""
        with self._beacon_lock:
            if self._beacon_thread is None and self._wanted():
                self._beacon_thread = threading.Thread(
                    target=self._beacon, name="inferless-announce", daemon=True
                )
                self._beacon_thread.start()
        self._kick.set()

    def _beacon(self) -> None:
        """Announce this runtime (and its models) on IOPub while that is wanted."""
        while True:
            with self._beacon_lock:
                if not self._wanted():
                    self._beacon_thread = None
                    return
            try:
                self._announce(self._announcement())
            except Exception:  # IOPub is closed at kernel exit
                log.debug("could not announce", exc_info=True)
            fast = time.monotonic() < self._fast_until
            self._kick.wait(FAST_ANNOUNCE if fast else SLOW_ANNOUNCE)
            self._kick.clear()


def _generations(described: list[ModelDescription]) -> dict[str, int]:
    """Each served model's generation, by name: what an announcement carries."""
    return {description["name"]: description["generation"] for description in described}
