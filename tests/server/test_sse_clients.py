"""Python SSE clients no one here wrote: every event they yield carries the model's JSON.

httpx-sse yields an event for every blank-line-terminated block once it has seen an id,
and one for a block that only sets ``retry:``; sseclient-py only for blocks with data.
Both read the first block, heartbeats while the model pauses longer than the heartbeat
interval, an in-band error and the end, and ``json.loads`` must work on every event.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import sseclient
from httpx_sse import aconnect_sse

from tests.support.models import COUNTER, counter_outputs
from tests.support.server_config import server_config
from tests.support.sse_reader import read_stream

HEARTBEAT = 0.2

STREAM = "inferless/v2/models/pausing/generate_stream"
PAUSED = {"n": 4, "pause_ms": int(HEARTBEAT * 3500)}  # > 3 heartbeats before each event


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """A short heartbeat, so a pausing model is crossed by several."""
    return server_config(heartbeat_interval=HEARTBEAT, retry_ms=500)


@pytest.fixture
def served(serving: Any) -> Any:
    """A server whose kernel serves Counter as 'pausing' and 'other'."""
    return serving(COUNTER.serve("pausing", "other"), "pausing", "other")


async def runs(api: Any, name: str = "pausing") -> int:
    status, listing = await api.call("inferless/api/models")
    assert status == 200
    return next(m["counters"]["requests"] for m in listing["models"] if m["name"] == name)


async def read_with_httpx_sse(api: Any, method: str, inputs: dict[str, Any]) -> list[Any]:
    """Every event httpx-sse yields, each through json.loads."""
    parsed = []
    async with httpx.AsyncClient(headers=api.auth, timeout=30) as client:
        if method == "GET":
            query = "&".join(f"{key}={str(value).lower()}" for key, value in inputs.items())
            request: dict[str, Any] = {"url": api.url(f"{STREAM}?{query}")}
        else:
            request = {"url": api.url(STREAM), "json": inputs}
        async with aconnect_sse(client, method, **request) as source:
            async for event in source.aiter_sse():
                parsed.append(json.loads(event.data))
    return parsed


def read_with_sseclient(api: Any, inputs: dict[str, Any]) -> list[Any]:
    """Every event sseclient-py yields, each through json.loads (blocking: run in a thread)."""
    with (
        httpx.Client(headers=api.auth, timeout=30) as client,
        client.stream("POST", api.url(STREAM), json=inputs) as response,
    ):
        assert response.status_code == 200
        events = sseclient.SSEClient(response.iter_bytes()).events()
        return [json.loads(event.data) for event in events]


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_httpx_sse_yields_only_the_models_json(served: Any, method: str, report: Any) -> None:
    """First block, heartbeats during pauses, the end: json.loads works on every event."""
    raw = await served.stream(STREAM, PAUSED)
    assert raw.comments >= 3 * PAUSED["n"], "the model's pauses were not crossed by heartbeats"
    assert raw.retry == 500  # the hint is still there, on the first event's block
    parsed = await read_with_httpx_sse(served, method, PAUSED)
    assert parsed == counter_outputs(4)
    report(
        f"httpx-sse, {method}: {len(parsed)} events yielded, all the model's JSON, across "
        f"{raw.comments} heartbeats ({HEARTBEAT} s apart) and the retry hint"
    )


async def test_httpx_sse_reads_an_in_band_error_as_json(served: Any) -> None:
    parsed = await read_with_httpx_sse(served, "POST", {**PAUSED, "fail": True})
    assert parsed[:4] == counter_outputs(4)
    failure = {"error": "RuntimeError: failed after the events", "kind": "model_error"}
    assert parsed[4:] == [{**failure, "type": "RuntimeError"}]


async def test_sseclient_py_yields_only_the_models_json(served: Any) -> None:
    parsed = await asyncio.to_thread(read_with_sseclient, served, PAUSED)
    assert parsed == counter_outputs(4)
    failed = await asyncio.to_thread(read_with_sseclient, served, {**PAUSED, "fail": True})
    failure = {"error": "RuntimeError: failed after the events", "kind": "model_error"}
    assert failed == [*counter_outputs(4), {**failure, "type": "RuntimeError"}]


# -- a reconnect to generate_stream never starts a new run --------------------------------------


async def test_last_event_id_on_generate_stream_resumes_and_never_runs_again(
    served: Any,
) -> None:
    """POST or GET with a Last-Event-ID: the rest of that stream, 204 after the end, or a 4xx."""
    first = await served.stream(STREAM, {"n": 6})
    assert first.outputs == counter_outputs(6)
    ids = [event.id for event in first.events]
    rid = first.headers["X-Request-Id"]
    assert ids == [f"{rid}:{i}" for i in range(6)]
    before = await runs(served)

    for method, path, body in [("POST", STREAM, {"n": 6}), ("GET", f"{STREAM}?n=6", None)]:
        rest = await served.stream(path, body, method=method, headers={"Last-Event-ID": ids[2]})
        assert rest.status == 200, rest.body
        assert [event.id for event in rest.events] == ids[3:]
        assert rest.outputs == counter_outputs(6)[3:]
        done = await served.stream(path, body, method=method, headers={"Last-Event-ID": ids[-1]})
        assert done.status == 204, done.body
        by_query = await served.call(f"{STREAM}?n=6&last_event_id={ids[-1]}")
        assert by_query[0] == 204

    other = (await served.stream("inferless/v2/models/other/generate_stream", {"n": 1})).events
    refusals = {
        "7": 400,  # a bare position names no stream
        "not-an-id": 400,
        f"{rid}:x": 400,
        f"{rid}:-2": 400,
        f"{rid}:99": 400,  # never sent
        "0123456789abcdef0123456789abcdef:0": 404,
        str(other[0].id): 400,  # a stream of another model
    }
    for last, status in refusals.items():
        for method, body in (("POST", {"n": 6}), ("GET", None)):
            path = STREAM if body else f"{STREAM}?n=6"
            result = await served.stream(path, body, method=method, headers={"Last-Event-ID": last})
            assert result.status == status, (last, method, result.body)
            assert "error" in json.loads(result.body), result.body
    assert await runs(served) == before


async def test_a_run_with_no_event_answers_the_get_form_204(served: Any) -> None:
    """EventSource reconnects after every end: an empty run must tell it to stop."""
    before = await runs(served)
    empty = await read_stream(served.url(f"{STREAM}?n=0"), method="GET", headers=served.auth)
    assert (empty.status, empty.body) == (204, b"")
    assert await runs(served) == before + 1
    posted = await served.stream(STREAM, {"n": 0})  # POST clients get an empty stream
    assert (posted.status, posted.events) == (200, [])
