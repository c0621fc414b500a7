"""A client that reads nothing for ``stall_timeout`` is treated as gone: its connection is
closed, and after the disconnect grace its request is cancelled; a slow client that keeps
reading is not. Heartbeats (every 0.2 s here) never pass for progress."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from jupyter_inferless.protocol import ErrorKind
from tests.support.models import ASYNC_PADDED, PADDED, Model
from tests.support.non_reader import NonReader
from tests.support.server_config import server_config
from tests.support.sse_reader import events_in
from tests.support.waiting import until

STALL = 1.0
GRACE = 1.0
PATH = "inferless/v2/models/m/generate_stream"
CASES: dict[str, tuple[Model, dict[str, Any]]] = {
    "sync": (PADDED, {}),  # infer on worker threads, paused at its bounds
    "asend": (ASYNC_PADDED, {"asend": True}),  # async infer, paused in await asend
}


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """A short stall timeout and grace, heartbeats while idle, small credit and backlog."""
    return server_config(
        stall_timeout=STALL,
        disconnect_grace=GRACE,
        heartbeat_interval=0.2,
        credit_events=64,
        credit_bytes=64 * 1024,
        request_backlog_bytes=256 * 1024,
    )


@pytest.mark.parametrize("case", list(CASES))
async def test_a_client_that_reads_nothing_is_cancelled_after_stall_timeout_and_grace(
    kernel, api, jp_serverapp, case, report
):
    model, extra = CASES[case]
    await kernel.run(model.serve("m", max_concurrency=2, queue_size=0))
    await api.wait_for_model("m")
    broker = jp_serverapp.web_app.settings["inferless_service"].broker
    started = time.monotonic()
    stalled = await NonReader.open(api.url(PATH), api.auth, {"n": 100_000, "size": 1000, **extra})
    # Beside it, a slow client that keeps reading (about 800 KB/s) is never cut.
    slow = await NonReader.open(
        api.url(PATH),
        api.auth,
        {"n": 2000, "size": 1000, **extra},
        version="HTTP/1.0",
        receive_buffer=64 * 1024,
    )
    try:
        stream = broker.get(stalled.rid)
        reading = asyncio.ensure_future(slow.read_to_close(pause=0.02))
        await until(lambda: stream.ended, "the stalled client's request cancelled", 60)
        ended_after = time.monotonic() - started  # reported, not asserted: a clock's figure
        assert stream.error == {
            "kind": ErrorKind.CANCELLED,
            "type": "cancelled",
            "message": "cancelled: the request was cancelled",
        }, "the grace period cancelled it"
        await stalled.read_to_close()  # the server closed the connection
        await asyncio.wait_for(reading, 60)
        events = events_in(slow.body)
        assert [event.position for event in events] == list(range(2000))
        assert "error" not in events[-1].json
        report(
            f"{case}: a client reading nothing was cut and its request cancelled "
            f"{ended_after:.1f} s after it started (stall_timeout {STALL:g} s + grace {GRACE:g} s)"
        )
    finally:
        stalled.close()
        slow.close()
