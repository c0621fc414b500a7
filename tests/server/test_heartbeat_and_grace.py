"""Idle streams get heartbeats; a stream nobody reads is cancelled after the grace period.

The grace period runs on the broker's clock: here one the test moves by hand
(``tests/support/clock.py``), so nothing waits for it to pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_inferless.protocol import ErrorKind
from jupyter_inferless.server.streams.broker import Broker
from tests.support.clock import ManualClock
from tests.support.models import PACED, paced_outputs
from tests.support.server_config import server_config
from tests.support.upstream import RecordingKernel
from tests.support.waiting import until

STREAM = "inferless/v2/models/paced/generate_stream"
GRACE = 30.0


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """Short heartbeats; the streams' grace runs on a clock the test moves."""
    return server_config(heartbeat_interval=0.2, disconnect_grace=GRACE, clock_class=ManualClock)


@pytest.mark.parametrize(
    ("script", "cancelled", "timers"),
    [
        pytest.param("read; leave; at 29.999", False, 1, id="within the grace nothing happens"),
        pytest.param("read; leave; at 30", True, 0, id="once it is over the request is cancelled"),
        pytest.param("read; leave; at 20; read; at 100", False, 0, id="a reader came back"),
        pytest.param(
            "read; leave; at 20; read; leave; at 49.999", False, 1, id="the grace counts anew"
        ),
        pytest.param("read; leave; at 20; read; leave; at 50", True, 0, id="from the last leave"),
        pytest.param("read; read; leave; at 100", False, 0, id="another reader stays"),
        pytest.param("read; read; leave; leave; at 30", True, 0, id="the last reader left"),
        pytest.param("read; leave; end; at 100", False, 0, id="it ended within the grace"),
        pytest.param("read; end; leave; at 100", False, 0, id="it had ended"),
    ],
)
def test_the_grace_period_on_the_streams_clock(script: str, cancelled: bool, timers: int) -> None:
    """Steps: ``read`` (a reader comes), ``leave`` (one goes), ``end`` (the run ends),
    ``at T`` (the clock moves to T seconds after the stream's start). ``timers``: the
    grace timers still pending at the end."""
    clock, kernel = ManualClock(), RecordingKernel()
    stream = Broker(clock=clock).create("model", kernel, GRACE)
    start = clock()
    for step in script.split("; "):
        verb, *args = step.split()
        if verb == "read":
            stream.subscribe()
        elif verb == "leave":
            stream.unsubscribe()
        elif verb == "end":
            stream.finish()
        else:
            clock.advance(start + float(args[0]) - clock())
    assert kernel.cancelled == ([stream.rid] if cancelled else [])
    assert len(clock.pending) == timers


async def test_an_idle_stream_gets_comment_heartbeats(kernel, api):
    await kernel.run(PACED.serve("paced"))
    await api.wait_for_model("paced")
    result = await api.stream(STREAM, {"n": 3, "pause_ms": 700})
    assert result.outputs == paced_outputs(3)
    assert result.comments >= 4, result.body


async def test_a_disconnect_is_not_a_cancel_until_the_grace_period_ends(kernel, api, jp_serverapp):
    broker = jp_serverapp.web_app.settings["inferless_service"].broker
    clock = broker.clock
    await kernel.run(PACED.serve("paced"))
    await api.wait_for_model("paced")
    _, headers = await api.stream_then_drop(STREAM, {"n": 2000, "pause_ms": 20}, keep=5)
    stream = broker.get(headers["x-request-id"])
    path = f"inferless/api/streams/{stream.rid}"
    await until(lambda: stream.subscribers == 0, "the server to see the client go")
    clock.advance(GRACE - 1)  # within the grace period: resuming continues the request
    resumed, _ = await api.stream_then_drop(path, None, keep=5, headers={"Last-Event-ID": "4"})
    assert [e.position for e in resumed] == [5, 6, 7, 8, 9]
    await until(lambda: stream.subscribers == 0, "the server to see the client go again")
    clock.advance(GRACE - 1)
    assert not stream.ended, "the grace period counts from the last client's leaving"
    clock.advance(1)  # nobody came back: the request is cancelled
    await until(lambda: stream.ended, "the request to be cancelled")
    rest = await api.stream(path, method="GET", headers={"Last-Event-ID": "9"})
    assert rest.events[-1].json["error"].startswith("cancelled")
    assert rest.events[-1].json["kind"] == "cancelled"
    assert stream.error is not None and stream.error["kind"] is ErrorKind.CANCELLED
    assert len(rest.events) < 2000 - 10
