"""The server's answers to this kernel's own requests (``watched``, ``listed``), by id.

A view's thread opens a mailbox for its view id (or a query id), sends its request on a
link, and reads the answers from the mailbox's queue; the link's subshell thread puts
them there as they arrive. When that link closes, each of its mailboxes gets ``None``.
"""

from __future__ import annotations

import queue
import threading

from ..protocol import ListedMessage, WatchedMessage

Answer = WatchedMessage | ListedMessage | None
"""A server's answer (decoded by the link); None: the link it was asked on closed."""


class Mailboxes:
    """One queue per open request id, and the link each was asked on."""

    def __init__(self) -> None:
        self._boxes: dict[str, tuple[str, queue.Queue[Answer]]] = {}
        self._lock = threading.Lock()

    def open(self, key: str, comm_id: str) -> queue.Queue[Answer]:
        """A mailbox for the answers to request ``key``, asked on link ``comm_id``."""
        box: queue.Queue[Answer] = queue.Queue()
        with self._lock:
            self._boxes[key] = (comm_id, box)
        return box

    def close(self, key: str) -> None:
        """No more answers are wanted for ``key``; later ones are dropped, and a reader
        still waiting on its queue gets None."""
        with self._lock:
            found = self._boxes.pop(key, None)
        if found is not None:
            found[1].put(None)

    def deliver(self, answer: WatchedMessage | ListedMessage) -> None:
        """An answer arrived (on the link's subshell): to its view's or query's mailbox."""
        key = answer["vid"] if answer["op"] == "watched" else answer["qid"]
        with self._lock:
            found = self._boxes.get(key)
        if found is not None:
            found[1].put(answer)

    def link_closed(self, comm_id: str) -> None:
        """Link ``comm_id`` closed: its mailboxes get None, as no answer will come."""
        with self._lock:
            boxes = [box for linked, box in self._boxes.values() if linked == comm_id]
        for box in boxes:
            box.put(None)
