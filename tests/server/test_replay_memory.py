"""Finished streams cost the server no more than the replay budget, read or not.

A real server process (so its memory can be read from /proc), a real kernel, real HTTP.
Event ids are used as received, never parsed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_inferless.server.streams.replay import EVENT_OVERHEAD
from tests.support.lab_server import Lab, lab_serving
from tests.support.memory import MIB, PeakRss, rss
from tests.support.models import PADDED
from tests.support.sse_reader import StreamResult, read_stream
from tests.support.waiting import NeverHappened, until

BUDGET = 64 * MIB
SLACK = 64 * MIB  # allocator slack, buffers in flight
# A peak while 150 runs are in flight also holds their frames on the way: on a loaded
# machine it came within 2 MiB of budget + slack. The regression grew the server by 1.2 GB;
# the tight target on the peak is benchmarks/replay_memory.py's, measured on its own.
PEAK_BOUND = 2 * (BUDGET + SLACK)
STREAMS = 150
EVENTS = 1024  # of about 4 KiB each: 4 MiB per stream
PAD = 4096 - len('{"i": 1000, "pad": ""}')
DROPPED_EVENTS = 1950  # of about 4 KiB each: an 8 MB run, inside the kernel's 8 MiB credit
BATCHES = 3

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def server_rss(lab: Lab) -> int:
    """The server process's resident memory in bytes."""
    return rss(lab.pid)


class Client:
    """Streams and resumes against the lab, with its token."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.auth = {"Authorization": f"token {lab.token}"}

    async def run(self, n: int, size: int = PAD) -> StreamResult:
        result = await read_stream(
            self.lab.url + "inferless/v2/models/replay/generate_stream",
            body={"n": n, "size": size},
            headers=self.auth,
        )
        assert result.status == 200, result.body[:500]
        assert len(result.events) == n
        return result

    async def resume(self, stream: StreamResult, after: int) -> StreamResult:
        """Resume ``stream`` after its event at index ``after`` (its id as received)."""
        return await read_stream(
            self.lab.url + stream.headers["Location"].lstrip("/"),
            method="GET",
            headers={**self.auth, "Last-Event-ID": str(stream.events[after].id)},
        )


def cost(stream: StreamResult) -> int:
    """What a stream's events cost the replay budget once all are delivered."""
    return sum(len(event.data.encode()) + 1 + EVENT_OVERHEAD for event in stream.events)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """A JupyterLab server with a replay budget, serving Padded as 'replay' (one run at a
    time, with room in its queue for a batch of dropped clients)."""
    extra = (f"--Broker.replay_budget_bytes={BUDGET}",)
    code = PADDED.serve("replay", queue_size=STREAMS + 16)
    with lab_serving(tmp_path, code, "replay", extra_args=extra) as server:
        yield server


async def test_finished_streams_grow_the_server_by_less_than_the_replay_budget(lab, report):
    """Regression: 150 finished 4 MiB streams grew the server by 463 MiB."""
    client = Client(lab)
    for _ in range(3):
        await client.run(10)  # warm the code paths, not the budget
    before = server_rss(lab)
    streams = [await client.run(EVENTS) for _ in range(STREAMS)]  # each read to its end
    grew = server_rss(lab) - before
    report(
        f"replay memory: {STREAMS} finished streams of {cost(streams[0]) / MIB:.2f} MiB read "
        f"to the end: the server grew {grew / MIB:.1f} MiB (budget {BUDGET / MIB:.0f} MiB; "
        f"must stay under budget + {SLACK / MIB:.0f} MiB)"
    )
    assert grew < BUDGET + SLACK

    # The budget holds the newest streams whole; one stream either side of its reach
    # is left out of the expectations (the warm-up streams and rounding share it).
    whole = total = 0
    for stream in reversed(streams):
        total += cost(stream)
        if total > BUDGET:
            break
        whole += 1
    older = STREAMS - whole - 2
    assert whole >= 10, whole

    newest, kept, evicted, oldest = streams[-1], streams[-whole + 1], streams[older], streams[0]
    for stream in (newest, kept):
        replay = await client.resume(stream, 0)
        assert replay.status == 200
        assert [e.id for e in replay.events] == [e.id for e in stream.events[1:]]
    for stream in (evicted, oldest):
        gone = await client.resume(stream, 0)
        assert gone.status == 410, gone.body[:300]
        assert "no longer kept" in json.loads(gone.body)["error"]
        assert (await client.resume(stream, -1)).status == 204


async def drop_after_headers(lab: Lab, n: int) -> tuple[int, str]:
    """POST a run of ``n`` events and hang up as soon as the headers are in: the status and
    the stream's id."""
    reader, writer = await asyncio.open_connection("127.0.0.1", lab.port)
    body = json.dumps({"n": n, "size": PAD}).encode()
    path = lab.url.split(str(lab.port), 1)[1] + "inferless/v2/models/replay/generate_stream"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{lab.port}\r\n"
        f"Authorization: token {lab.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    try:
        writer.write(head.encode() + body)
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
    finally:
        writer.close()
    lines = answer.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers.get("X-Request-Id", "")


async def until_idle(lab: Lab, timeout: float = 300.0) -> None:
    """Wait until the model has no run running or queued."""

    async def idle() -> bool:
        return not (await asyncio.to_thread(lab.counters, "replay") or {}).get("active")

    try:
        await until(idle, "the model idle", timeout)
    except NeverHappened as never:
        raise NeverHappened(f"{never}; runs still active:\n{lab.log_tail()}") from None


async def test_runs_whose_clients_dropped_grow_the_server_by_less_than_the_budget(lab, report):
    """Regression: undelivered events of finished streams escaped the replay budget: 150
    clients that hung up after the headers of 8 MB runs grew the server by 1.2 GB."""
    client = Client(lab)
    for _ in range(3):
        await client.run(10)  # warm the code paths, not the budget
    first = ""
    grew: list[float] = []
    with PeakRss(lab.pid) as memory:
        before = memory.sample()
        for _ in range(BATCHES):
            answers = await asyncio.gather(
                *(drop_after_headers(lab, DROPPED_EVENTS) for _ in range(STREAMS))
            )
            assert {status for status, _ in answers} == {200}, answers[:3]
            first = first or answers[0][1]
            await until_idle(lab)
            grew.append((memory.sample() - before) / MIB)
            assert grew[-1] < (BUDGET + SLACK) / MIB, grew
            assert (memory.peak - before) / MIB < PEAK_BOUND / MIB, (grew, memory.peak)
    peak = (memory.peak - before) / MIB
    run_mb = DROPPED_EVENTS * 4096 / 1e6
    report(
        f"replay memory: {BATCHES} x {STREAMS} runs of {run_mb:.1f} MB whose clients hung up "
        f"after the headers: the server grew {', '.join(f'{g:.1f}' for g in grew)} MiB after "
        f"each batch, peak {peak:.1f} MiB (budget {BUDGET / MIB:.0f} MiB; after each batch it must "
        f"stay under budget + {SLACK / MIB:.0f} MiB, at its peak under {PEAK_BOUND / MIB:.0f} MiB)"
    )

    # The first run's events were dropped unread, and resuming it says so. A run dropped
    # now, the last to end, keeps what its client was never sent.
    gone = await read_stream(
        lab.url + f"inferless/api/streams/{first}", method="GET", headers=client.auth
    )
    assert gone.status == 410, gone.body[:300]
    assert "dropped before any client was sent them" in json.loads(gone.body)["error"]
    status, newest = await drop_after_headers(lab, DROPPED_EVENTS)
    await until_idle(lab)
    half = DROPPED_EVENTS // 2
    replay = await read_stream(
        lab.url + f"inferless/api/streams/{newest}",
        method="GET",
        headers={**client.auth, "Last-Event-ID": f"{newest}:{half - 1}"},
    )
    assert (status, replay.status) == (200, 200), replay.body[:300]
    assert [event.position for event in replay.events] == list(range(half, DROPPED_EVENTS))
