"""The server's end of the frame protocol: sequence, gaps, credit. Pure: no I/O, no clock.

Frames must arrive in sequence. A frame already seen (a resend) is ignored. A gap (IOPub
drops messages under pressure) asks the kernel once to resend everything unacknowledged;
frames after the gap are ignored until the missing one arrives, and the kernel's own
timeout covers a resend that is lost too.

Each request's credit keeps a window of (events, bytes) open ahead of what its fastest
subscriber has delivered. The kernel is granted more only once a quarter of a window has
been delivered, so acknowledgements stay rare.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ...protocol import AckMessage, FrameMessage, RunError, ack

GRANT_FRACTION = 4
"""More credit is granted once 1/GRANT_FRACTION of a window (events or bytes) is free."""


@dataclass(frozen=True)
class RunEvents:
    """One request's events in a frame, and its end when the frame carries it."""

    rid: str
    lines: list[bytes]
    ended: bool
    error: RunError | None


@dataclass(frozen=True)
class Received:
    """What a frame brought: events to deliver, and which acknowledgement it needs."""

    runs: list[RunEvents] = field(default_factory=list)
    ack_soon: bool = False  # a frame in sequence: acknowledge it (batched)
    resend_now: bool = False  # the first frame past a gap: ask for a resend at once


class FrameReceiver:
    """Sequence and credit of one kernel link."""

    def __init__(self, credit: tuple[int, int]) -> None:
        self.credit = credit
        self.seq = 0  # the last frame taken, in sequence
        self.resend_asked = False
        self.granted: dict[str, tuple[int, int]] = {}  # events, bytes granted since open

    def open(self, rid: str) -> tuple[int, int]:
        """Start counting a request's credit; return its first credit."""
        self.granted[rid] = self.credit
        return self.credit

    def close(self, rid: str) -> None:
        """The request ended: it needs no more credit."""
        self.granted.pop(rid, None)

    def reset(self) -> None:
        """A new link: frames start again at 1, no request is open."""
        self.seq = 0
        self.resend_asked = False
        self.granted.clear()

    def receive(self, frame: FrameMessage, buffers: list[bytes]) -> Received:
        """Take a frame (decoded: ``protocol.decode_from_kernel``) if it is next in sequence."""
        seq = frame["seq"]
        if seq <= self.seq:
            return Received()  # a resent frame we already have
        if seq != self.seq + 1:
            first = not self.resend_asked
            self.resend_asked = True
            return Received(resend_now=first)
        self.seq = seq
        self.resend_asked = False
        if buffers:
            lines = bytes(buffers[0]).split(b"\n")
        else:
            lines = frame.get("text", "").encode().split(b"\n")
        runs = []
        offset = 0
        for run in frame["runs"]:
            count = run["events"]
            chunk = lines[offset : offset + count]
            offset += count
            runs.append(RunEvents(run["rid"], chunk, run["ended"], run["error"]))
        return Received(runs, ack_soon=True)

    def wants_grant(self, rid: str, consumed: int, consumed_bytes: int) -> bool:
        """Whether the request, delivered this far, is owed credit."""
        return self._owed(rid, consumed, consumed_bytes) is not None

    def ack(self, consumed: Mapping[str, tuple[int, int]], resend: bool = False) -> AckMessage:
        """The acknowledgement of every frame taken, granting what each request is owed.

        ``consumed`` holds each open request's delivered (events, bytes).
        """
        credit: dict[str, list[int]] = {}
        for rid, (events, size) in consumed.items():
            owed = self._owed(rid, events, size)
            if owed is not None:
                granted = self.granted[rid]
                self.granted[rid] = (granted[0] + owed[0], granted[1] + owed[1])
                credit[rid] = list(owed)
        return ack(self.seq, credit, resend)

    def _owed(self, rid: str, consumed: int, consumed_bytes: int) -> tuple[int, int] | None:
        """The credit that reopens the full window, once a quarter of it is free."""
        granted = self.granted.get(rid)
        if granted is None:
            return None
        window_events, window_bytes = self.credit
        more_events = consumed + window_events - granted[0]
        more_bytes = consumed_bytes + window_bytes - granted[1]
        if (
            more_events < window_events // GRANT_FRACTION
            and more_bytes < window_bytes // GRANT_FRACTION
        ):
            return None
        return max(0, more_events), max(0, more_bytes)
