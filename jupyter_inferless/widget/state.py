"""What a stream view knows: its state, text, table values, counts and times.

The runner's thread feeds it (``connected``, ``add``, ``finish``) and readers read it,
under one lock; it sets ``_dirty`` whenever something changed, for the view's updater,
which takes the pending text with ``_take``. It follows the stream views' rulebook
(README.md; :mod:`.rules`) and knows nothing of widgets (:mod:`.view` shows it).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .rules import FINAL_STATES, events_per_second, split_event


class StreamState:
    """The state of one stream; :class:`~.view.StreamView` shows it.

    ``text`` is the text the events added and ``table_values`` the latest values shown
    in the table (the rulebook's text rule), ``latest`` the last event, ``events`` the
    number of events, ``state`` one of connecting, streaming, stopping, done, cancelled,
    failed or refused (``error`` says why it was cancelled, failed or refused, and
    ``error_kind`` is the in-band error's kind).
    """

    def __init__(self) -> None:
        self.error: str | None = None
        self.error_kind: str | None = None
        self.request_id: str | None = None
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._state = "connecting"
        self._text = ""
        self._pending: list[str] = []
        self._latest: Any = None
        self._table_values: dict[str, Any] | None = None
        self._events = 0
        self._started = time.monotonic()
        self._first_at: float | None = None
        self._ended_at: float | None = None

    @property
    def state(self) -> str:
        """connecting, streaming, stopping, done, cancelled, failed or refused."""
        return self._state

    @property
    def events(self) -> int:
        """How many events arrived."""
        return self._events

    @property
    def text(self) -> str:
        """The text so far: each event's string ``OUT`` (or lone string value)."""
        with self._lock:
            return self._text + "".join(self._pending)

    @property
    def table_values(self) -> dict[str, Any] | None:
        """The latest values the table shows (the keys that are not the text), or None."""
        return self._table_values

    @property
    def latest(self) -> Any:
        """The last event received."""
        return self._latest

    @property
    def events_per_second(self) -> float | None:
        """(events - 1) per second from the first event to now, or to the end once final."""
        return events_per_second(self._events, self._first_at, self._ended_at or time.monotonic())

    @property
    def elapsed(self) -> float:
        """Seconds since the request started, up to its end."""
        return (self._ended_at or time.monotonic()) - self._started

    @property
    def first_event_after(self) -> float | None:
        """Seconds from the start to the first event."""
        return None if self._first_at is None else self._first_at - self._started

    # -- fed by the runner thread ----------------------------------------------------

    def connected(self, request_id: str | None) -> None:
        """The server accepted the request."""
        with self._lock:
            self.request_id = request_id
            if self._state == "connecting":
                self._state = "streaming"
        self._dirty.set()

    def add(self, output: Any) -> bool:
        """Record one event; the view shows it at its next refresh.

        Returns False, recording nothing, once the stream ended (the view hung up).
        """
        now = time.monotonic()
        text, table = split_event(output)
        with self._lock:
            if self._state in FINAL_STATES:
                return False
            if self._first_at is None:
                self._first_at = now
            if self._state == "connecting":
                self._state = "streaming"
            self._events += 1
            self._latest = output
            if text:
                self._pending.append(text)
            if table is not None:
                self._table_values = table
        self._dirty.set()
        return True

    def finish(self, state: str, message: str | None = None, kind: str | None = None) -> None:
        """End the stream in a final state (see :func:`.rules.final_state`); ``message``
        says why it was cancelled, failed or refused, ``kind`` is the in-band error's."""
        if state not in FINAL_STATES:
            raise ValueError(f"{state!r} is not a final state")
        with self._lock:
            if self._state in FINAL_STATES:
                return
            self._ended_at = time.monotonic()
            self.error = message
            self.error_kind = kind
            self._state = state
        self._dirty.set()

    # -- for the view ----------------------------------------------------------------

    def _stopping(self) -> bool:
        """Enter the stopping state, if the stream is still connecting or streaming."""
        with self._lock:
            if self._state not in ("connecting", "streaming"):
                return False
            self._state = "stopping"
        self._dirty.set()
        return True

    def _take(self) -> tuple[str, dict[str, Any] | None, str]:
        """The text (the pending pieces joined to it), the table values and the state."""
        with self._lock:
            if self._pending:
                self._text += "".join(self._pending)
                self._pending.clear()
            return self._text, self._table_values, self._state
