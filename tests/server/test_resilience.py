"""Streams in the real world: resume, cancel, broken models, load and fairness."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.models import (
    COUNTER,
    DRIFTS,
    NEVER_FINALISES,
    PACED,
    RAISES,
    counter_outputs,
    paced_outputs,
)
from tests.support.server_state import streams_running

STREAM = "inferless/v2/models/paced/generate_stream"


@pytest.fixture
def paced(serving):
    """A kernel serving Paced (max concurrency 8, queue 8)."""
    return serving(PACED.serve("paced", max_concurrency=8, queue_size=8), "paced")


async def test_resume_after_a_dropped_connection_gets_the_rest_exactly_once(paced):
    kept, headers = await paced.stream_then_drop(STREAM, {"n": 400, "pause_ms": 5}, keep=100)
    assert [e.position for e in kept] == list(range(100))
    rid = headers["x-request-id"]
    assert headers["location"].endswith(f"/inferless/api/streams/{rid}")
    rest = await paced.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": "99"}
    )
    assert rest.status == 200
    assert [e.position for e in rest.events] == list(range(100, 400))
    assert rest.outputs == paced_outputs(100, 400)
    after_end = await paced.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": "399"}
    )
    assert after_end.status == 204
    by_query = await paced.call(f"inferless/api/streams/{rid}?last_event_id=399")
    assert by_query[0] == 204


async def test_several_subscribers_and_bad_resume_ids(paced):
    _, headers = await paced.stream_then_drop(STREAM, {"n": 50, "pause_ms": 10}, keep=5)
    rid = headers["x-request-id"]
    path = f"inferless/api/streams/{rid}"
    one, two = await asyncio.gather(
        paced.stream(path, method="GET", headers={"Last-Event-ID": "4"}),
        paced.stream(path, method="GET", headers={"Last-Event-ID": "1"}),
    )
    assert [e.position for e in one.events] == list(range(5, 50))
    assert [e.position for e in two.events] == list(range(2, 50))
    assert (await paced.call(path + "?last_event_id=abc"))[0] == 400
    status, body = await paced.call(path + "?last_event_id=5000")
    assert status == 400 and "never sent" in body["error"]
    status, body = await paced.call("inferless/api/streams/nope")
    assert status == 404 and "no stream" in body["error"]


async def test_delete_cancels_down_to_the_model_loop(paced, kernel):
    _, headers = await paced.stream_then_drop(STREAM, {"n": 5000, "pause_ms": 10}, keep=20)
    rid = headers["x-request-id"]
    status, body = await paced.call(f"inferless/api/streams/{rid}", method="DELETE")
    assert status == 202 and body["cancelled"] is True
    rest = await paced.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": "19"}
    )
    assert rest.events[-1].json["error"].startswith("cancelled")
    assert rest.events[-1].json["kind"] == "cancelled"
    after = await kernel.run(
        "h = Paced.handlers[-1]\n"
        "print(sum(1 for t in h.sent_at if t > h._sink.cancelled_at), len(h.sent_at))"
    )
    more, total = map(int, after.split())
    print(f"events sent after the cancel reached the kernel: {more} (of {total})")
    assert more <= 2, f"the model sent {more} events after the cancel"
    assert total < 5000
    status, body = await paced.call(f"inferless/api/streams/{rid}", method="DELETE")
    assert status == 200 and body["state"] == "ended"


BROKEN = NEVER_FINALISES.serve() + RAISES.serve() + DRIFTS.serve()


@pytest.mark.parametrize(
    ("name", "outputs"),
    [
        ("NeverFinalises", [{"OUT": "0"}, {"OUT": "1"}, {"OUT": "2"}]),
        (
            "Raises",
            [
                {"OUT": "a"},
                {"error": "ValueError: bad <weights>", "kind": "model_error", "type": "ValueError"},
            ],
        ),
        (
            "Drifts",
            [
                {"OUT": "a", "score": 1.0},
                {
                    "error": "OutputError: event 1: output key 'score' changed from number to "
                    "string; every event of a stream must have the keys and types of the "
                    "first (OUT: string, score: number)",
                    "kind": "output_error",
                    "type": "OutputError",
                },
            ],
        ),
    ],
)
async def test_broken_models_end_their_stream_with_the_right_message(kernel, api, name, outputs):
    await kernel.run(BROKEN)
    await api.wait_for_model(name)
    result = await api.stream(f"inferless/v2/models/{name}/generate_stream", {})  # it ends
    assert result.outputs == outputs
    assert [e.position for e in result.events] == list(range(len(outputs)))


async def test_24_concurrent_streams_on_max_concurrency_8(paced):
    results = await asyncio.gather(
        *(paced.stream(STREAM, {"n": 40, "pause_ms": 10}) for _ in range(24))
    )
    accepted = [r for r in results if r.status == 200]
    rejected = [r for r in results if r.status != 200]
    assert len(accepted) == 16, [r.status for r in results]  # 8 running + 8 queued
    for result in accepted:
        assert result.outputs == paced_outputs(40)
    for result in rejected:
        assert result.status == 429
        assert result.headers["Retry-After"] == "1"
        assert b"is busy" in result.body


async def test_a_saturating_stream_does_not_hold_up_another_stream(kernel, api, jp_serverapp):
    """Another stream runs to its end beside the flood, not after it. (How long its first
    event takes beside load is the benchmarks' figure: load.py, token_rate.py.)"""
    await kernel.run(COUNTER.serve("Flood", "Ping"))
    await api.wait_for_model("Ping")
    alone = await api.stream("inferless/v2/models/Ping/generate_stream", {"n": 1})
    flood = asyncio.ensure_future(
        api.stream("inferless/v2/models/Flood/generate_stream", {"n": 300_000})
    )
    await streams_running(jp_serverapp, model="Flood")  # its events flow
    during = await api.stream("inferless/v2/models/Ping/generate_stream", {"n": 1})
    assert not flood.done(), "the flood should still be streaming"
    assert during.outputs == counter_outputs(1)
    print(f"first event alone {alone.first_event_at * 1000:.1f} ms, "
          f"beside a flood {during.first_event_at * 1000:.1f} ms")  # fmt: skip
    assert len((await flood).events) == 300_000
