"""A finished stream is kept keep_finished seconds from its end, then pruned by a timer.

The broker ages its streams and prunes on its clock: here one the test moves by hand
(``tests/support/clock.py``), so nothing waits for the time to pass.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.clock import ManualClock
from tests.support.models import PACED
from tests.support.server_config import server_config
from tests.support.waiting import until

STREAM = "inferless/v2/models/paced/generate_stream"

KEEP = 300.0
INTERVAL = 5.0


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """Finished streams are kept KEEP seconds, looked at every INTERVAL, on a clock the
    test moves."""
    return server_config(keep_finished=KEEP, prune_interval=INTERVAL, clock_class=ManualClock)


async def test_a_stream_longer_than_keep_finished_is_kept_then_pruned_with_no_new_stream(
    kernel, api, jp_serverapp
):
    broker = jp_serverapp.web_app.settings["inferless_service"].broker
    clock = broker.clock
    await kernel.run(PACED.serve("paced"))
    await api.wait_for_model("paced")
    running = asyncio.ensure_future(api.stream(STREAM, {"n": 6, "pause_ms": 100}))
    await until(lambda: any(s.total for s in broker.streams.values()), "the stream's first event")
    clock.advance(KEEP + INTERVAL)  # it runs longer than KEEP; the timer looks meanwhile
    long = await running
    assert long.status == 200 and len(long.events) == 6
    path = f"inferless/api/streams/{long.headers['X-Request-Id']}"
    after_end = {"Last-Event-ID": str(long.events[-1].id)}
    await api.stream(STREAM, {"n": 1, "pause_ms": 0})  # a new stream prunes too
    # Regression: its age counted from its start, so it was dropped as it ended (404).
    assert (await api.stream(path, method="GET", headers=after_end)).status == 204
    clock.advance(KEEP)
    assert (await api.stream(path, method="GET", headers=after_end)).status == 204
    clock.advance(INTERVAL)  # no new stream starts: the timer prunes it
    gone = await api.stream(path, method="GET", headers=after_end)
    assert gone.status == 404, gone.body
