"""A clock a test moves by hand: the streams' Clock (``server/streams/clock.py``) without
waiting for time to pass."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable


class ManualTimer:
    """A call ``ManualClock`` makes once its time comes, unless cancelled first."""

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """Time stands still until ``advance`` moves it; the timers then due run, in order."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self._timers: list[tuple[float, int, ManualTimer]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], object]) -> ManualTimer:
        timer = ManualTimer(self.now + delay, callback)
        heapq.heappush(self._timers, (timer.when, next(self._order), timer))
        return timer

    @property
    def pending(self) -> list[ManualTimer]:
        """The timers not yet run nor cancelled, the next due first."""
        return [timer for _, _, timer in sorted(self._timers) if not timer.cancelled]

    def advance(self, seconds: float) -> None:
        """Move time on by ``seconds``, running every timer due by then (a timer that a
        callback schedules runs too, if it is due)."""
        until = self.now + seconds
        while self._timers and self._timers[0][0] <= until:
            when, _, timer = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if not timer.cancelled:
                timer.callback()
        self.now = until
