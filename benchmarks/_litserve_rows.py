"""The rows vs_litserve.py measures, each against one endpoint, with the lean client
(_sse_client.py) and token_rate.py's checks: every event of every stream is checked (ids
0..n-1 in order, once each, the model's data), and a wrong stream raises RowError."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _client_bench import StreamChecker, StreamError
from _litserve_servers import rss
from _servers import HOST
from _shared import Event
from _sse_client import ProtocolError, stream_sse
from _streams import Address, one_stream
from token_rate import MANY_PACE_MS, Clients, Tally, TickCheck, run_ticks

ONE_PACE_MS = 10  # one stream at 100 events/s
OPEN_PACE_MS = 200  # the memory row's streams: open, an event every 200 ms
SAMPLE_EVERY = 0.05  # seconds between two RSS samples
KIB = 1024


class RowError(Exception):
    """A stream was wrong or incomplete: the run broke."""


def _checked(name: str, tally: Tally) -> Tally:
    if tally.problems():
        raise RowError(f"{name}: {', '.join(tally.problems())}: {'; '.join(tally.failed[:3])}")
    return tally


async def unpaced(name: str, address: Address, n: int) -> tuple[float, float]:
    """One stream of ``n`` events as fast as they come: (events/s, seconds to the first)."""
    checker = StreamChecker(n)
    body = json.dumps({"n": n}).encode()
    try:
        timing = await asyncio.wait_for(
            stream_sse(HOST, address.port, address.path, body, sink=checker,
                       headers=address.headers),
            timeout=60 + n / 500,
        )  # fmt: skip
        checker.finish()
    except (StreamError, ProtocolError, OSError, asyncio.TimeoutError) as err:
        raise RowError(f"{name}: {type(err).__name__}: {err}") from None
    return n / timing.total, timing.first_event


def paced(name: str, address: Address, n: int, pause_ms: int = ONE_PACE_MS) -> Tally:
    """One stream of ``n`` events ``pause_ms`` apart, each event's added latency noted."""
    return _checked(name, asyncio.run(run_ticks(address, 1, n, pause_ms)))


def many(name: str, address: Address, s: int, n: int, clients: int, log: Path) -> Tally:
    """``s`` streams of ``n`` events 20 ms apart, sent at once by ``clients`` processes."""
    procs = Clients(address, s, n, clients, log)
    try:
        procs.ready()
        return _checked(name, procs.run())
    finally:
        procs.close()


class FirstSeen(TickCheck):
    """A paced stream's check that also notes when its first event arrived (time.time())."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.first: float | None = None

    def __call__(self, events: list[Event]) -> None:
        """Check the events; note the time of the first read that held one."""
        super().__call__(events)
        if self.first is None and events:
            self.first = time.time()


class Sampler:
    """Samples the summed RSS of some processes every 50 ms in a thread, with its time."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.samples.append((time.time(), rss(self.pids)))
            if self._stop.wait(SAMPLE_EVERY):
                return

    def between(self, start: float, end: float) -> list[int]:
        """The samples taken from ``start`` to ``end``."""
        return [value for t, value in self.samples if start <= t <= end]


@dataclass
class Memory:
    """The memory row: RSS before the streams and while all of them were open."""

    streams: int
    before: float  # bytes, median of the samples before
    during: list[int] = field(default_factory=list)  # bytes, while every stream was open

    @property
    def per_stream_kib(self) -> float | None:
        """(median RSS while open - RSS before) / streams, in KiB; None with no sample."""
        if not self.during:
            return None
        return (statistics.median(self.during) - self.before) / self.streams / KIB


async def _open_streams(address: Address, s: int, n: int) -> tuple[Tally, float, float]:
    inputs: dict[str, Any] = {"n": n, "pause_ms": OPEN_PACE_MS}
    timeout = 60.0 + 3 * n * OPEN_PACE_MS / 1000
    checks = [FirstSeen(n) for _ in range(s)]
    ends: list[float] = []

    async def one(check: FirstSeen) -> Any:
        result = await one_stream(address, inputs, check, timeout)
        ends.append(time.time())
        return result

    tally = Tally(start=time.time())
    results = await asyncio.gather(*(one(check) for check in checks))
    tally.end = time.time()
    for result in results:
        tally.add(result)
    firsts = [check.first for check in checks if check.first is not None]
    began = max(firsts) if len(firsts) == s else tally.end
    return tally, began, min(ends)


def memory(name: str, address: Address, pids: list[int], s: int, n: int) -> Memory:
    """``s`` streams of ``n`` events 200 ms apart: the RSS of ``pids`` before them, and
    while every one of them was open (from the last first event to the first end)."""
    baseline = []
    for _ in range(5):
        baseline.append(rss(pids))
        time.sleep(SAMPLE_EVERY)  # the samples spread over a quarter of a second
    with Sampler(pids) as sampler:
        tally, began, ended = asyncio.run(_open_streams(address, s, n))
    _checked(name, tally)
    return Memory(s, statistics.median(baseline), sampler.between(began, ended))


__all__ = ["MANY_PACE_MS", "Memory", "RowError", "many", "memory", "paced", "unpaced"]
