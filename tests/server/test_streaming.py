"""A notebook's streaming model, served by a real server from a real kernel."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

from tests.support.held_cell import HeldCell
from tests.support.models import PACED, RAISES, paced_outputs
from tests.support.sse_reader import raw_post, read_stream

PACED_STREAM = "inferless/v2/models/paced/generate_stream"
SERVE_PACED = PACED.define() + "%inferless serve Paced --name paced"  # INPUT_SCHEMA beside it


async def test_300_events_arrive_complete_in_order_with_ids(kernel, api):
    await kernel.run(SERVE_PACED)
    await api.wait_for_model("paced")
    result = await api.stream(PACED_STREAM, {"n": 300})
    assert result.status == 200
    assert result.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert result.headers["X-Request-Id"]
    assert [event.position for event in result.events] == list(range(300))
    assert result.outputs == paced_outputs(300)


async def test_post_parameters_flat_and_get_forms_agree(kernel, api):
    await kernel.run(SERVE_PACED)
    await api.wait_for_model("paced")
    path = PACED_STREAM
    flat = await api.stream(path, {"n": 3, "prefix": "a"})
    wrapped = await api.stream(path, {"parameters": {"n": 3, "prefix": "a"}})
    tensors = await api.stream(
        path,
        {
            "inputs": [
                {"name": "n", "shape": [1], "datatype": "INT64", "data": [3]},
                {"name": "prefix", "shape": [1], "datatype": "BYTES", "data": ["a"]},
            ]
        },
    )
    token = api.auth["Authorization"].split()[-1]
    query = await read_stream(api.url(f"{path}?n=3&prefix=a&token={token}"), method="GET")
    expected = paced_outputs(3, prefix="a")
    for result in (flat, wrapped, tensors, query):
        assert result.status == 200, result.body
        assert result.outputs == expected


async def test_stream_headers_name_the_request_and_forbid_caching(kernel, api):
    await kernel.run(SERVE_PACED)
    await api.wait_for_model("paced")
    result = await api.stream(PACED_STREAM, {"n": 1})
    rid = result.headers["X-Request-Id"]
    assert result.headers["Location"].endswith(f"/inferless/api/streams/{rid}")
    assert result.headers["Cache-Control"] == "no-store"
    assert result.headers["X-Accel-Buffering"] == "no"
    assert "Content-Encoding" not in result.headers
    assert result.retry == 2000


async def test_streams_while_the_notebook_runs_a_cell(kernel, api, tmp_path):
    await kernel.run(SERVE_PACED)
    await api.wait_for_model("paced")
    async with HeldCell(kernel, tmp_path) as busy:  # runs until released, after the stream
        result = await api.stream(PACED_STREAM, {"n": 5})
        assert not busy.cell.done(), "the cell should still be running"
        assert result.outputs == paced_outputs(5)
        assert "released" in await busy.release()


async def test_model_is_listed_once_served_and_gone_after_stop(kernel, api):
    await kernel.run(PACED.define())
    await kernel.run("%inferless serve Paced --name paced")
    await api.wait_for_model("paced")
    status, body = await api.call("inferless/api/models")
    (model,) = body["models"]
    assert model["kernel_id"] == kernel.kernel_id
    assert model["streaming"] is True
    assert model["device"]["device"] == "cpu"
    zero = {"requests": 0, "events": 0, "errors": 0, "active": 0, "queued": 0}
    assert model["counters"] == zero
    assert [replica["kernel_id"] for replica in model["replicas"]] == [kernel.kernel_id]
    assert model["replicas"][0]["counters"] == zero and model["refused"] == []
    await kernel.run("%inferless stop paced")
    await api.wait_for_model("paced", present=False)
    status, body = await api.call("inferless/v2/models/paced/ready")
    assert status == 404
    assert "paced" in body["error"]


async def test_a_model_raising_ends_its_stream_with_an_in_band_error(kernel, api):
    await kernel.run(RAISES.serve("broken"))
    await api.wait_for_model("broken")
    result = await api.stream("inferless/v2/models/broken/generate_stream", {})
    assert result.status == 200
    assert result.outputs == [
        {"OUT": "a"},
        {"error": "ValueError: bad <weights>", "kind": "model_error", "type": "ValueError"},
    ]


async def raw_response(api, version: str, body: dict) -> bytes:
    """POST a stream over a bare socket with ``version`` and return the whole response."""
    url = api.url(PACED_STREAM)
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(raw_post(url, api.auth, body, version))
    try:
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()


async def test_the_body_is_chunked_for_http_1_1_and_plain_for_http_1_0(kernel, api):
    await kernel.run(SERVE_PACED)
    await api.wait_for_model("paced")
    expected = paced_outputs(40)
    chunked = await raw_response(api, "HTTP/1.1", {"n": 40})
    head, _, body = chunked.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    pieces, rest = [], body
    while True:  # every chunk framed exactly, then the last (empty) chunk
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        assert rest[size : size + 2] == b"\r\n"
        pieces.append(rest[:size])
        rest = rest[size + 2 :]
        if size == 0:
            break
    assert rest == b""
    plain = await raw_response(api, "HTTP/1.0", {"n": 40})
    head10, _, body10 = plain.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head10 and b"Content-Length" not in head10
    for text in (b"".join(pieces), body10):  # the same stream, framed or to the close
        events = [block for block in text.decode().split("\n\n") if "data: " in block]
        outputs = [json.loads(block.split("data: ", 1)[1]) for block in events]
        assert outputs == expected
