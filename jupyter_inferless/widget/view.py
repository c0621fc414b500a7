"""The inline stream view: text and a live table, a status line and a Stop button.

It shows a :class:`~.state.StreamState`, which the runner's thread feeds, as the lab
panel shows its model (the stream views' rulebook: README.md, :mod:`.rules`). One
updater thread applies the state to the widgets at most every ``interval`` seconds
(about 30 times a second), and always applies the final state, so a stream of any rate
costs the frontend a bounded number of comm messages.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

from ipywidgets import HTML, Button, HBox, Layout, VBox

from .rules import FINAL_STATES
from .state import StreamState

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


class StreamView(StreamState):
    """A live view of one stream; built by :func:`jupyter_inferless.stream`.

    What it shows is its :class:`~.state.StreamState` (``text``, ``table_values``,
    ``latest``, ``events``, ``state``, ``error``, ``error_kind``, ...); ``updates`` is the
    number of times the widgets were refreshed.
    """

    def __init__(self, name: str, interval: float = 1 / 30) -> None:
        super().__init__()
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
        self._closed = threading.Event()
        self._shown_in: int | None = None
        self._render()
        self._updater = threading.Thread(
            target=self._update_loop, name="inferless-view", daemon=True
        )
        self._updater.start()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the stream ended and its final state is shown; return the state."""
        self._closed.wait(timeout)
        return self._state

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the updater thread, which ends once the final
        state is shown."""
        if self._updater is not threading.current_thread():
            self._updater.join(timeout)

    def stop(self) -> None:
        """Cancel the request (what the Stop button does): the state becomes stopping."""
        if self.on_stop is None or not self._stopping():
            return
        self.stop_button.disabled = True
        self.stop_button.description = "Stopping"
        self.on_stop()

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
        text, table, state = self._take()
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
