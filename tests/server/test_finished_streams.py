"""A finished stream is kept keep_finished seconds from its end, then pruned by a timer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.models import PACED
from tests.support.server_config import server_config

STREAM = "inferless/v2/models/paced/generate_stream"

KEEP = 1.0


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """Finished streams are kept a second; the broker looks every 0.1 s."""
    return server_config(keep_finished=KEEP, prune_interval=0.1)


async def test_a_stream_longer_than_keep_finished_is_kept_then_pruned_with_no_new_stream(
    kernel, api
):
    await kernel.run(PACED.serve("paced"))
    await api.wait_for_model("paced")
    long = await api.stream(STREAM, {"n": 6, "pause_ms": 300})  # runs longer than KEEP
    assert long.status == 200 and len(long.events) == 6
    path = f"inferless/api/streams/{long.headers['X-Request-Id']}"
    after_end = {"Last-Event-ID": str(long.events[-1].id)}
    await api.stream(STREAM, {"n": 1, "pause_ms": 0})  # a new stream prunes too
    # Regression: its age counted from its start, so it was dropped as it ended (404).
    assert (await api.stream(path, method="GET", headers=after_end)).status == 204
    await asyncio.sleep(KEEP + 1.0)  # no new stream starts: the timer prunes it
    gone = await api.stream(path, method="GET", headers=after_end)
    assert gone.status == 404, gone.body
