"""The inline stream view: text or a live table, a status line and a Stop button.

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

TERMINAL = frozenset({"done", "cancelled", "error"})
STATE_COLORS = {
    "connecting": "#666",
    "streaming": "#1a73e8",
    "done": "#188038",
    "cancelled": "#b06000",
    "error": "#c5221f",
}
SHOWN_CHARS = 100_000  # the text pane shows the tail; view.text keeps everything
IDLE_TICK = 1.0  # seconds between status refreshes while nothing arrives


class StreamView:
    """A live view of one stream; built by :func:`jupyter_inferless.stream`.

    ``text`` is the concatenated string outputs, ``latest`` the last event,
    ``events`` the number of events, ``state`` one of connecting, streaming, done,
    cancelled or error (``error`` holds the message) and ``updates`` the number of
    times the widgets were refreshed.
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
        self.request_id: str | None = None
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._state = "connecting"
        self._text = ""
        self._pending: list[str] = []
        self._latest: dict[str, Any] | None = None
        self._table_latest: dict[str, Any] | None = None
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
        """connecting, streaming, done, cancelled or error."""
        return self._state

    @property
    def events(self) -> int:
        """How many events arrived."""
        return self._events

    @property
    def text(self) -> str:
        """Every string output so far, concatenated."""
        with self._lock:
            return self._text + "".join(self._pending)

    @property
    def latest(self) -> dict[str, Any] | None:
        """The last event received."""
        return self._latest

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
        """Cancel the request (what the Stop button does)."""
        if self._state not in TERMINAL and self.on_stop is not None:
            self.stop_button.disabled = True
            self.stop_button.description = "Stopping"
            self.on_stop()

    # -- fed by the runner thread ----------------------------------------------------

    def connected(self, request_id: str | None) -> None:
        """The server accepted the request."""
        with self._lock:
            self.request_id = request_id
            if self._state == "connecting":
                self._state = "streaming"
        self._dirty.set()

    def add(self, output: dict[str, Any]) -> None:
        """Record one event; the updater shows it at its next refresh."""
        now = time.monotonic()
        with self._lock:
            if self._first_at is None:
                self._first_at = now
            if self._state == "connecting":
                self._state = "streaming"
            self._events += 1
            self._latest = output
            values = list(output.values())
            if values and all(isinstance(value, str) for value in values):
                self._pending.extend(values)
            else:
                self._table_latest = output
        self._dirty.set()

    def finish(self, state: str, message: str | None = None) -> None:
        """End the stream in a terminal state; ``message`` explains an error or cancel."""
        with self._lock:
            if self._state in TERMINAL:
                return
            self._ended_at = time.monotonic()
            self.error = message
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
            text, table, state = self._text, self._table_latest, self._state
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
        if state in TERMINAL:
            self.stop_button.disabled = True
            self.stop_button.description = "Stop"
        self.updates += 1
        return state in TERMINAL

    def _status_html(self, state: str) -> str:
        elapsed = self.elapsed
        parts = [
            f'<b style="color: {STATE_COLORS.get(state, "#666")}">{state}</b>',
            f"{self._events} events",
        ]
        if self._first_at is not None:
            streaming_for = (self._ended_at or time.monotonic()) - self._first_at
            if self._events > 1 and streaming_for > 0:
                parts.append(f"{(self._events - 1) / streaming_for:,.0f} events/s")
            parts.append(f"first event {1000 * (self._first_at - self._started):,.0f} ms")
        parts.append(f"{elapsed:,.1f} s")
        line = f"<code>{html.escape(self.name)}</code> · " + " · ".join(parts)
        if self.error and state == "error":
            line += (
                '<div style="color: #c5221f; white-space: pre-wrap">'
                f"{html.escape(self.error)}</div>"
            )
        elif self.error and state == "cancelled":
            line += f'<div style="color: #666">{html.escape(self.error)}</div>'
        return line


def _table_html(event: dict[str, Any], count: int) -> str:
    """The latest event as a key/value table."""
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
