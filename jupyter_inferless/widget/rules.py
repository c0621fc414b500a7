"""The stream views' rules: states, how a stream's end decides its final state, the text
rule and events/s. Pure, no widgets.

The lab panel follows the same rules (``labextension/src/run.ts``). README.md states them
once, in "The stream views' rulebook"; ``tests/stream_views.json`` holds that table and the
cases both views are tested against. The in-band error itself is recognised by the client
(:class:`~jupyter_inferless.client.ModelError` carries its ``kind``).
"""

from __future__ import annotations

from typing import Any, Literal

from ..protocol import ErrorKind

STATES = ("connecting", "streaming", "stopping", "done", "cancelled", "failed", "refused")
"""Every state of a view, in order; the last four are final."""
FINAL_STATES = frozenset({"done", "cancelled", "failed", "refused"})
TEXT_KEY = "OUT"
CANCELLED_KIND = ErrorKind.CANCELLED.value
STOP_TIMEOUT = 5.0
"""Seconds after Stop before a view stops reading a stream the server has not ended."""

End = Literal["end", "error", "refused", "lost", "hang_up"]
"""How a stream ended: its body ended; an in-band error; the server refused the request;
the connection was lost for good; or, after Stop, the view stopped reading (hung up)."""


def final_state(end: End, kind: str | None = None, *, stopped: bool = False) -> str:
    """The final state of a stream that ended by ``end`` (``kind``: the in-band error's).

    Decided by the error's kind alone, never by its text; ``stopped``: Stop was pressed.
    """
    if end == "end":
        return "done"
    if end == "error":
        return "cancelled" if kind == CANCELLED_KIND else "failed"
    if end == "refused":
        return "refused"
    return "cancelled" if stopped else "failed"  # lost, or hung up


def split_event(event: Any) -> tuple[str | None, dict[str, Any] | None]:
    """``(text, table)`` of one output event: what it adds to the text, and the values it
    shows in the table of latest values (None: nothing).

    A string ``OUT`` is text and the other keys are the table; without one, a lone string
    value is text; anything else is a table of the whole event.
    """
    if not isinstance(event, dict):
        return None, {"value": event}
    text = event.get(TEXT_KEY)
    if isinstance(text, str):
        rest = {key: value for key, value in event.items() if key != TEXT_KEY}
        return text, (rest or None)
    if len(event) == 1:
        (value,) = event.values()
        if isinstance(value, str):
            return value, None
    return None, dict(event)


def events_per_second(events: int, first_at: float | None, until: float) -> float | None:
    """(events - 1) per second from the first event (at ``first_at``) to ``until`` (now, or
    the stream's end); None before a second event or while no time has passed."""
    if first_at is None or events < 2:
        return None
    seconds = until - first_at
    return (events - 1) / seconds if seconds > 0 else None
