"""Finished streams cost the server no more than the replay budget.

A real server process (so its memory can be read from /proc), a real kernel, real HTTP.
Event ids are used as received, never parsed.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_inferless.server.replay import EVENT_OVERHEAD
from tests.support.lab_server import Lab, lab_serving
from tests.support.models import PADDED
from tests.support.sse_reader import StreamResult, read_stream

MIB = 1024 * 1024
BUDGET = 64 * MIB
SLACK = 64 * MIB  # allocator slack, buffers in flight
STREAMS = 150
EVENTS = 1024  # of about 4 KiB each: 4 MiB per stream
PAD = 4096 - len('{"i": 1000, "pad": ""}')

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def server_rss(lab: Lab) -> int:
    """The server process's resident memory in bytes (its pid names its jpserver file)."""
    (info,) = lab.runtime_dir.glob("jpserver-*.json")
    pid = int(info.stem.removeprefix("jpserver-"))
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc status")


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
    """A JupyterLab server with a replay budget, serving Padded as 'replay'."""
    extra = (f"--Broker.replay_budget_bytes={BUDGET}",)
    with lab_serving(tmp_path, PADDED.serve("replay"), "replay", extra_args=extra) as server:
        yield server


async def test_finished_streams_grow_the_server_by_less_than_the_replay_budget(lab, report):
    """Regression: 150 finished 4 MiB streams grew the server by 463 MiB."""
    client = Client(lab)
    for _ in range(3):
        await client.run(10)  # warm the code paths, not the budget
    before = server_rss(lab)
    streams = [await client.run(EVENTS) for _ in range(STREAMS)]
    time.sleep(0.5)
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
