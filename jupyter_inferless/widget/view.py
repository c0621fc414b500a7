"""The inline stream view: text and a live table, a status line and a Stop button.

It follows the stream views' rulebook (README.md; :mod:`.rules`), as the lab panel does.
Events arrive on a background thread and are only accumulated there. One updater
thread applies them to the widgets at most every ``interval`` seconds (about 30
times a second), and always applies the final state, so a stream of any rate
costs the frontend a bounded number of comm messages.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

from ipywidgets import HTML, Button, HBox, Layout, VBox

from .rules import FINAL_STATES, events_per_second, split_event

ERROR_COLOR = "#c5221f"
STATE_COLORS = {
    "connecting": "#666",
    "streaming": "#1a73e8",
    "stopping": "#b06000",
    "done": "#188038",
    "cancelled": "#b06000",
    "failed": ERROR_COLOR,
    "refused": ERROR_COLOR,
}
NO_RATE = "\u2013"  # an en dash: events/s cannot be measured yet, as in the lab panel
SHOWN_CHARS = 100_000  # the text pane shows the tail; view.text keeps everything
IDLE_TICK = 1.0  # seconds between status refreshes while nothing arrives


class StreamView:
    """A live view of one stream; built by :func:`jupyter_inferless.stream`.

    ``text`` is the text the events added and ``table_values`` the latest values shown
    in the table (the rulebook's text rule), ``latest`` the last event, ``events`` the
    number of events, ``state`` one of connecting, streaming, stopping, done, cancelled,
    failed or refused (``error`` says why it was cancelled, failed or refused, and
    ``error_kind`` is the in-band error's kind) and ``updates`` the number of times the
    widgets were refreshed.
    """

    def __init__(self, name: str, interval: float = 1 / 30) -> None:
        self.name = name
        self.interval = interval
        self.status = HTML()
        self.body = HTML()
        self.table = HTML()
        self.stop_button = Button(
            description="Stop",
            icon="stop",
            tooltip="Cancel the request",
            layout=Layout(width="auto"),
        )
        self.stop_button.on_click(lambda _button: self.stop())
        self.widget = VBox([HBox([self.stop_button, self.status]), self.body, self.table])
        self.widget.add_class("jp-InferlessStream")
        self.on_stop: Callable[[], None] | None = None
        self.updates = 0
        self.error: str | None = None
        self.error_kind: str | None = None
        self.request_id: str | None = None
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._state = "connecting"
        self._text = ""
        self._pending: list[str] = []
        self._latest: Any = None
        self._table_values: dict[str, Any] | None = None
        self._events = 0
        self._started = time.monotonic()
        self._first_at: float | None = None
        self._ended_at: float | None = None
        self._shown_in: int | None = None
        self._render()
        threading.Thread(target=self._update_loop, name="inferless-view", daemon=True).start()

    # -- what tests and users read -------------------------------------------------

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

    def wait(self, timeout: float | None = None) -> str:
        """Block until the stream ended and its final state is shown; return the state."""
        self._closed.wait(timeout)
        return self._state

    def stop(self) -> None:
        """Cancel the request (what the Stop button does): the state becomes stopping."""
        with self._lock:
            if self._state not in ("connecting", "streaming") or self.on_stop is None:
                return
            self._state = "stopping"
        self.stop_button.disabled = True
        self.stop_button.description = "Stopping"
        self._dirty.set()
        self.on_stop()

    # -- fed by the runner thread ----------------------------------------------------

    def connected(self, request_id: str | None) -> None:
        """The server accepted the request."""
        with self._lock:
            self.request_id = request_id
            if self._state == "connecting":
                self._state = "streaming"
        self._dirty.set()

    def add(self, output: Any) -> bool:
        """Record one event; the updater shows it at its next refresh.

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

    # -- display ---------------------------------------------------------------------

    def show(self) -> None:
        """Display the view in the current cell's output."""
        from IPython import get_ipython
        from IPython.display import display

        shell = get_ipython()
        self._shown_in = getattr(shell, "execution_count", None)
        display(self.widget)

    def _ipython_display_(self) -> None:
        # stream() already showed the view in this cell; do not show it twice when
        # the call is also the cell's last expression.
        from IPython import get_ipython

        count = getattr(get_ipython(), "execution_count", None)
        if self._shown_in is None or count != self._shown_in:
            self.show()

    def __repr__(self) -> str:
        return f"<StreamView {self.name!r}: {self._state}, {self._events} events>"

    # -- the updater -----------------------------------------------------------------

    def _update_loop(self) -> None:
        last = 0.0
        while True:
            self._dirty.wait(IDLE_TICK)
            pause = last + self.interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self._dirty.clear()
            final = self._render()
            last = time.monotonic()
            if final:
                self._closed.set()
                return

    def _render(self) -> bool:
        """Apply the accumulated state to the widgets; True when it was the final one."""
        with self._lock:
            if self._pending:
                self._text += "".join(self._pending)
                self._pending.clear()
            text, table, state = self._text, self._table_values, self._state
        if text:
            shown = text[-SHOWN_CHARS:]
            hidden = len(text) - len(shown)
            note = f"… {hidden} earlier characters (view.text has them all)\n" if hidden else ""
            self.body.value = (
                '<pre style="white-space: pre-wrap; word-break: normal; '
                'overflow-wrap: anywhere; margin: 0.3em 0">'
                f"{html.escape(note + shown)}</pre>"
            )
        if table is not None:
            self.table.value = _table_html(table, self._events)
        # the status goes last, so "done" never shows before the final text
        self.status.value = self._status_html(state)
        if state in FINAL_STATES:
            self.stop_button.disabled = True
            self.stop_button.description = "Stop"
        self.updates += 1
        return state in FINAL_STATES

    def _status_html(self, state: str) -> str:
        elapsed = self.elapsed
        parts = [
            f'<b style="color: {STATE_COLORS.get(state, "#666")}">{state}</b>',
            f"{self._events} events",
        ]
        rate = self.events_per_second
        shown = NO_RATE if rate is None else f"{rate:,.{1 if rate < 10 else 0}f}"
        parts.append(f"{shown} events/s")
        if self._first_at is not None:
            parts.append(f"first event {1000 * (self._first_at - self._started):,.0f} ms")
        parts.append(f"{elapsed:,.1f} s")
        line = f"<code>{html.escape(self.name)}</code> · " + " · ".join(parts)
        if self.error and state in ("failed", "refused"):
            line += (
                f'<div style="color: {ERROR_COLOR}; white-space: pre-wrap">'
                f"{html.escape(self.error)}</div>"
            )
        elif self.error and state == "cancelled":
            line += f'<div style="color: #666">{html.escape(self.error)}</div>'
        return line


def _table_html(event: dict[str, Any], count: int) -> str:
    """The latest values as a key/value table."""
    rows = "".join(
        f'<tr><th style="text-align: left; padding-right: 1em">{html.escape(str(key))}</th>'
        f'<td style="text-align: left">{html.escape(_short(value))}</td></tr>'
        for key, value in event.items()
    )
    caption = f"latest of {count} events"
    return (
        f'<table><caption style="text-align: left; color: #666">{caption}</caption>{rows}</table>'
    )


def _short(value: Any, limit: int = 2000) -> str:
    shown = repr(value) if not isinstance(value, str) else value
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
