"""Workload checks and client-only measurements for the SSE benchmark.

``StreamChecker`` verifies a received stream: exactly N events, ids 0..N-1 in
order (every event), data parsing as JSON equal to the expected payload (a
sample of events, plus the first and the last). ``client_alone`` times the same
client code on a pre-generated in-memory byte stream, with no server involved.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from _shared import Event, counter_output
from _sse_client import ProtocolError, read_sse_body

#: Verify the JSON payload of every SAMPLE_EVERY-th event (ids are checked on all).
SAMPLE_EVERY = 16


#: The output every server streams as event ``k``: tests/support/models.py's Counter's.
payload = counter_output


class StreamError(Exception):
    """A stream was incomplete, out of order, or carried the wrong data."""


class StreamChecker:
    """Event sink that checks ids on every event and the payload on a sample."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.received = 0

    def __call__(self, events: list[Event]) -> None:
        """Check one batch of events; raise StreamError on the first problem."""
        k, last = self.received, self.n - 1
        for event_id, data in events:
            if b'"error"' in data:
                raise StreamError(f"error event at #{k}: {data[:300].decode(errors='replace')}")
            if event_id.rpartition(b":")[2] != b"%d" % k:  # "k", or "RID:k" (ours)
                raise StreamError(f"event #{k} has id {event_id[:40]!r} (data {data[:120]!r})")
            if k % SAMPLE_EVERY == 0 or k == last:
                _check_payload(k, data)
            k += 1
        if k > self.n:
            raise StreamError(f"more than {self.n} events")
        self.received = k

    def finish(self) -> None:
        """Raise StreamError unless exactly ``n`` events arrived."""
        if self.received != self.n:
            raise StreamError(f"stream ended after {self.received} of {self.n} events")


def _check_payload(k: int, data: bytes) -> None:
    try:
        value = json.loads(data)
    except ValueError as err:
        raise StreamError(f"event #{k}: data is not JSON ({err}): {data[:120]!r}") from None
    if value != payload(k):
        raise StreamError(f"event #{k}: data {value!r} != {payload(k)!r}")


def synth_events(n: int, sep: str = "\n") -> list[bytes]:
    """Pre-generate ``n`` SSE events (one bytes object each) like the servers send."""
    return [f"id: {k}{sep}data: {json.dumps(payload(k))}{sep}{sep}".encode() for k in range(n)]


def synth_response(events: list[bytes], chunked: bool = True) -> list[bytes]:
    """Wrap events in an HTTP response; with ``chunked``, one chunk per event."""
    if not chunked:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
        return [head, *events]
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return [head, *(b"%x\r\n%s\r\n" % (len(e), e) for e in events), b"0\r\n\r\n"]


class MemorySource:
    """In-memory stand-in for asyncio.StreamReader: returns pre-split reads."""

    def __init__(self, reads: list[bytes]) -> None:
        self._reads = reads
        self._next = 0

    async def read(self, n: int = -1) -> bytes:
        """Return the next pre-split piece, or b"" at the end."""
        if self._next >= len(self._reads):
            return b""
        self._next += 1
        return self._reads[self._next - 1]


def rechunk(reads: list[bytes], size: int) -> list[bytes]:
    """Concatenate ``reads`` and split them again into pieces of ``size`` bytes."""
    blob = b"".join(reads)
    return [blob[i : i + size] for i in range(0, len(blob), size)]


async def _consume(reads: list[bytes], n: int) -> float:
    """Run the full client read path over ``reads``; return seconds taken."""
    checker = StreamChecker(n)
    start = time.perf_counter()
    await read_sse_body(MemorySource(reads), checker)
    elapsed = time.perf_counter() - start
    checker.finish()
    return elapsed


@dataclass
class ClientSpeed:
    """Client-alone events/s for small (one event per read) and large reads."""

    per_event_reads: float
    bulk_reads: float


def client_alone(n: int, repeats: int = 3) -> ClientSpeed:
    """Best-of-``repeats`` client throughput on an in-memory chunked stream."""
    small = synth_response(synth_events(n))
    bulk = rechunk(small, 65536)
    best_small = min(asyncio.run(_consume(small, n)) for _ in range(repeats))
    best_bulk = min(asyncio.run(_consume(bulk, n)) for _ in range(repeats))
    return ClientSpeed(n / best_small, n / best_bulk)


# --- correctness self-check of the body decoders (tests/test_sse_parser.py checks the parser) -


def _body_events(reads: list[bytes]) -> list[Event]:
    events: list[Event] = []
    asyncio.run(read_sse_body(MemorySource(reads), events.extend))
    return events


def self_check() -> None:
    """Raise ProtocolError if the client mis-reads chunked or identity bodies, oddly split."""
    events = synth_events(50, "\r\n")
    want = [(b"%d" % k, json.dumps(payload(k)).encode()) for k in range(50)]
    for chunked in (True, False):
        reads = synth_response(events, chunked)
        for size in (1, 7, 4096):
            if _body_events(rechunk(reads, size)) != want:
                raise ProtocolError(f"body self-check failed (chunked={chunked}, size={size})")
