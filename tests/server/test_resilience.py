"""Streams in the real world: resume, cancel, broken models, load and fairness."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from sse_reader import SSEParser

PACED = """
import time, jupyter_inferless

produced = 0
handlers = []

class Paced:
    def infer(self, inputs, stream_output_handler):
        global produced
        handlers.append(stream_output_handler)
        sent_at = stream_output_handler.sent_at = []
        for i in range(inputs["n"]):
            stream_output_handler.send_streamed_output({"i": i})
            sent_at.append(time.monotonic())
            produced += 1
            time.sleep(inputs["pause_ms"] / 1000)
        stream_output_handler.finalise_streamed_output()

jupyter_inferless.serve(
    Paced, name="paced", streaming=True, max_concurrency=8, queue_size=8,
    input_schema={
        "n": {"datatype": "INT32", "required": True, "shape": [1]},
        "pause_ms": {"datatype": "INT32", "required": True, "shape": [1]},
    },
)
"""

STREAM = "inferless/v2/models/paced/generate_stream"


@pytest.fixture
def paced(kernel, api, jp_asyncio_loop):
    """A kernel serving Paced (max concurrency 8, queue 8)."""

    async def serve() -> None:
        await kernel.run(PACED)
        await api.wait_for_model("paced")

    jp_asyncio_loop.run_until_complete(serve())
    return api


class Dropped(Exception):
    """Raised in the streaming callback to cut the connection."""


async def read_then_drop(
    api: Any,
    path: str,
    body: dict[str, Any] | None,
    keep: int,
    headers_out: dict[str, str] | None = None,
):
    """Stream (POST with a body, else GET), cutting the connection once ``keep`` events arrived."""
    parser = SSEParser()
    headers: dict[str, str] = {}

    def on_chunk(chunk: bytes) -> None:
        parser.feed(chunk)
        if len(parser.events) >= keep:
            raise Dropped()

    def on_header(line: str) -> None:
        name, _, value = line.partition(":")
        if value:
            headers[name.strip().lower()] = value.strip()

    request = HTTPRequest(
        api.url(path),
        method="GET" if body is None else "POST",
        body=None if body is None else json.dumps(body),
        headers={**api.auth, **(headers_out or {})},
        streaming_callback=on_chunk,
        header_callback=on_header,
        request_timeout=60,
    )
    client = AsyncHTTPClient(force_instance=True)
    try:
        await client.fetch(request)
    except Exception:  # tornado reports the cut as a closed stream, not as Dropped
        assert len(parser.events) >= keep, "the connection failed before it was cut"
    finally:
        client.close()
    return parser.events[:keep], headers


async def test_resume_after_a_dropped_connection_gets_the_rest_exactly_once(paced):
    kept, headers = await read_then_drop(paced, STREAM, {"n": 400, "pause_ms": 5}, keep=100)
    assert [e.position for e in kept] == list(range(100))
    rid = headers["x-request-id"]
    assert headers["location"].endswith(f"/inferless/api/streams/{rid}")
    rest = await paced.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": "99"}
    )
    assert rest.status == 200
    assert [e.position for e in rest.events] == list(range(100, 400))
    assert rest.outputs == [{"i": i} for i in range(100, 400)]
    after_end = await paced.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": "399"}
    )
    assert after_end.status == 204
    by_query = await paced.call(f"inferless/api/streams/{rid}?last_event_id=399")
    assert by_query[0] == 204


async def test_several_subscribers_and_bad_resume_ids(paced):
    _, headers = await read_then_drop(paced, STREAM, {"n": 50, "pause_ms": 10}, keep=5)
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
    _, headers = await read_then_drop(paced, STREAM, {"n": 5000, "pause_ms": 10}, keep=20)
    rid = headers["x-request-id"]
    status, body = await paced.call(f"inferless/api/streams/{rid}", method="DELETE")
    assert status == 202 and body["cancelled"] is True
    rest = await paced.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": "19"}
    )
    assert rest.events[-1].json["error"].startswith("cancelled")
    assert rest.events[-1].json["kind"] == "cancelled"
    after = await kernel.run(
        "h = handlers[-1]\n"
        "print(sum(1 for t in h.sent_at if t > h._sink.cancelled_at), len(h.sent_at))"
    )
    more, total = map(int, after.split())
    print(f"events sent after the cancel reached the kernel: {more} (of {total})")
    assert more <= 2, f"the model sent {more} events after the cancel"
    assert total < 5000
    status, body = await paced.call(f"inferless/api/streams/{rid}", method="DELETE")
    assert status == 200 and body["state"] == "ended"


BROKEN = """
import jupyter_inferless

class NeverFinalises:
    def infer(self, inputs, stream_output_handler):
        for i in range(3):
            stream_output_handler.send_streamed_output({"OUT": str(i)})

class Raises:
    def infer(self, inputs, stream_output_handler):
        stream_output_handler.send_streamed_output({"OUT": "a"})
        raise ValueError("bad weights")

class Drifts:
    def infer(self, inputs, stream_output_handler):
        stream_output_handler.send_streamed_output({"OUT": "a", "score": 1.0})
        stream_output_handler.send_streamed_output({"OUT": "b", "score": "high"})
        stream_output_handler.send_streamed_output({"OUT": "c", "score": 2.0})

for model in (NeverFinalises, Raises, Drifts):
    jupyter_inferless.serve(model, input_schema={}, streaming=True)
"""


@pytest.mark.parametrize(
    ("name", "outputs"),
    [
        ("NeverFinalises", [{"OUT": "0"}, {"OUT": "1"}, {"OUT": "2"}]),
        ("Raises", [{"OUT": "a"}, {"error": "ValueError: bad weights", "kind": "model_error"}]),
        (
            "Drifts",
            [
                {"OUT": "a", "score": 1.0},
                {
                    "error": "OutputError: event 1: output key 'score' changed from number to "
                    "string; every event of a stream must have the keys and types of the "
                    "first (OUT: string, score: number)",
                    "kind": "output_error",
                },
            ],
        ),
    ],
)
async def test_broken_models_end_their_stream_with_the_right_message(kernel, api, name, outputs):
    await kernel.run(BROKEN)
    await api.wait_for_model(name)
    started = time.monotonic()
    result = await api.stream(f"inferless/v2/models/{name}/generate_stream", {})
    assert time.monotonic() - started < 10
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
        assert result.outputs == [{"i": i} for i in range(40)]
    for result in rejected:
        assert result.status == 429
        assert result.headers["Retry-After"] == "1"
        assert b"is busy" in result.body


FLOOD = """
import jupyter_inferless

class Flood:
    def infer(self, inputs, stream_output_handler):
        for i in range(300_000):
            stream_output_handler.send_streamed_output({"OUT": "x" * 20, "i": i})
        stream_output_handler.finalise_streamed_output()

class Ping:
    def infer(self, inputs, stream_output_handler):
        stream_output_handler.send_streamed_output({"OUT": "pong"})
        stream_output_handler.finalise_streamed_output()

jupyter_inferless.serve(Flood, input_schema={}, streaming=True)
jupyter_inferless.serve(Ping, input_schema={}, streaming=True)
"""


async def test_a_saturating_stream_does_not_delay_another_streams_first_event(kernel, api):
    await kernel.run(FLOOD)
    await api.wait_for_model("Ping")
    alone = await api.stream("inferless/v2/models/Ping/generate_stream", {})
    flood = asyncio.ensure_future(api.stream("inferless/v2/models/Flood/generate_stream", {}))
    await asyncio.sleep(0.5)
    during = await api.stream("inferless/v2/models/Ping/generate_stream", {})
    assert not flood.done(), "the flood should still be streaming"
    assert during.outputs == [{"OUT": "pong"}]
    print(f"first event alone {alone.first_event_at * 1000:.1f} ms, "
          f"beside a flood {during.first_event_at * 1000:.1f} ms")  # fmt: skip
    assert during.first_event_at < 0.5
    assert len((await flood).events) == 300_000
