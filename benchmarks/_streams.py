"""Many streams, each checked event by event: every problem is counted, not stopped at.

What the load benchmarks share: the check of one stream's events (ids ``RID:k`` for k in
0..n-1, in order, once each; data as the model sends it), one stream run against an
endpoint with a timeout, and a line on what went wrong with it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Protocol

from _servers import HOST
from _shared import Event, counter_output
from _sse_client import ProtocolError, stream_sse


class Endpoint(Protocol):
    """Where a model's streams are posted (a ``JupyterInferless`` server is one)."""

    port: int
    path: str
    headers: dict[str, str]


@dataclass
class Address:
    """An endpoint given by its parts, e.g. in a client process."""

    port: int
    path: str
    headers: dict[str, str]


class EventCheck:
    """Event sink that counts, instead of stopping at, every problem of one stream.

    ``matches`` says whether event k's data is right (the tests' Counter's by default).
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.received = 0
        self.seen = bytearray(n)
        self.duplicated = 0
        self.out_of_order = 0
        self.bad_data = 0
        self.unexpected = 0  # ids whose position is not an integer in 0..n-1
        self.errors: list[str] = []
        self._next = 0

    def matches(self, k: int, value: Any) -> bool:
        """True when ``value`` is the right data for event ``k``."""
        return bool(value == counter_output(k))

    def __call__(self, events: list[Event]) -> None:
        """Check one batch of events."""
        for event_id, data in events:
            self.received += 1
            try:
                value = json.loads(data)
            except ValueError:
                value = None
            if isinstance(value, dict) and "error" in value:
                self.errors.append(f"error event: {data[:300].decode(errors='replace')}")
                continue
            try:
                k = int(event_id.rpartition(b":")[2])  # ids are "RID:k"
            except ValueError:
                k = -1
            if not 0 <= k < self.n:
                self.unexpected += 1
                continue
            if self.seen[k]:
                self.duplicated += 1
            self.seen[k] = 1
            if k != self._next:
                self.out_of_order += 1
            self._next = k + 1
            if not self.matches(k, value):
                self.bad_data += 1

    @property
    def lost(self) -> int:
        """Ids in 0..n-1 that never arrived."""
        return self.n - sum(self.seen)

    def ok(self) -> bool:
        """Exactly n events, ids 0..n-1 in order, data matching."""
        return not (
            self.lost or self.duplicated or self.out_of_order or self.bad_data or self.unexpected
        ) and (not self.errors and self.received == self.n)


@dataclass
class StreamResult:
    """What one stream delivered."""

    check: EventCheck
    ttfe: float | None = None  # seconds from the request to the first event
    duration: float | None = None
    error: str | None = None

    def ok(self) -> bool:
        """True when the stream ended normally and all its events were right."""
        return self.error is None and self.check.ok()


async def one_stream(
    endpoint: Endpoint, inputs: dict[str, Any], check: EventCheck, timeout: float
) -> StreamResult:
    """Post ``inputs`` to ``endpoint`` and feed the stream to ``check``, counting problems."""
    result = StreamResult(check)
    body = json.dumps(inputs).encode()
    try:
        timing = await asyncio.wait_for(
            stream_sse(
                HOST, endpoint.port, endpoint.path, body, sink=check, headers=endpoint.headers
            ),
            timeout,
        )
    except asyncio.TimeoutError:
        result.error = f"timed out after {timeout:.0f} s, {check.received} events received"
    except (ProtocolError, OSError) as err:
        result.error = f"{type(err).__name__}: {err}"
    else:
        result.ttfe = timing.first_event if timing.events else None
        result.duration = timing.total
    return result


def summarise(result: StreamResult) -> str:
    """One line on what went wrong with a stream."""
    c = result.check
    parts = [f"{c.received}/{c.n} events"]
    for label, count in [
        ("lost", c.lost),
        ("duplicated", c.duplicated),
        ("out of order", c.out_of_order),
        ("bad data", c.bad_data),
        ("unexpected ids", c.unexpected),
    ]:
        if count:
            parts.append(f"{count} {label}")
    parts += c.errors[:2]
    if result.error:
        parts.append(result.error)
    return ", ".join(parts)
