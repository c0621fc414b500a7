"""Idle streams get heartbeats; a stream nobody reads is cancelled after the grace period."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.models import PACED, paced_outputs
from tests.support.server_config import server_config

STREAM = "inferless/v2/models/paced/generate_stream"


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """Short heartbeat and grace period, so both show within a test."""
    return server_config(heartbeat_interval=0.2, disconnect_grace=1.0)


async def test_an_idle_stream_gets_comment_heartbeats(kernel, api):
    await kernel.run(PACED.serve("paced"))
    await api.wait_for_model("paced")
    result = await api.stream(STREAM, {"n": 3, "pause_ms": 700})
    assert result.outputs == paced_outputs(3)
    assert result.comments >= 4, result.body


async def test_a_disconnect_is_not_a_cancel_until_the_grace_period_ends(kernel, api):
    await kernel.run(PACED.serve("paced"))
    await api.wait_for_model("paced")
    _, headers = await api.stream_then_drop(STREAM, {"n": 2000, "pause_ms": 20}, keep=5)
    rid = headers["x-request-id"]
    await asyncio.sleep(0.3)  # within the grace period: resuming continues the request
    resumed, _ = await api.stream_then_drop(
        f"inferless/api/streams/{rid}", None, keep=5, headers={"Last-Event-ID": "4"}
    )
    assert [e.position for e in resumed] == [5, 6, 7, 8, 9]
    await asyncio.sleep(2.0)  # nobody came back: the request is cancelled
    rest = await api.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": "9"}
    )
    assert rest.events[-1].json["error"].startswith("cancelled")
    assert rest.events[-1].json["kind"] == "cancelled"
    assert len(rest.events) < 2000 - 10
