"""A notebook's streaming model, served by a real server from a real kernel."""

from __future__ import annotations

import asyncio

from sse_reader import read_stream

COUNTER = """
INPUT_SCHEMA = {
    "n": {"datatype": "INT32", "required": True, "shape": [1], "example": [3]},
    "prefix": {"datatype": "STRING", "required": False, "shape": [1]},
}
IS_STREAMING_OUTPUT = True

class Counter:
    def initialize(self):
        self.ready = True
    def infer(self, inputs, stream_output_handler):
        prefix = inputs.get("prefix", "tok")
        for i in range(inputs["n"]):
            stream_output_handler.send_streamed_output({"OUT": f"{prefix}{i}", "i": i})
        stream_output_handler.finalise_streamed_output()
    def finalize(self):
        pass

%inferless serve Counter --name counter
"""


async def test_300_events_arrive_complete_in_order_with_ids(kernel, api):
    await kernel.run(COUNTER)
    await api.wait_for_model("counter")
    result = await api.stream("inferless/v2/models/counter/generate_stream", {"n": 300})
    assert result.status == 200
    assert result.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert result.headers["X-Request-Id"]
    assert [event.position for event in result.events] == list(range(300))
    assert result.outputs == [{"OUT": f"tok{i}", "i": i} for i in range(300)]


async def test_post_parameters_flat_and_get_forms_agree(kernel, api):
    await kernel.run(COUNTER)
    await api.wait_for_model("counter")
    path = "inferless/v2/models/counter/generate_stream"
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
    expected = [{"OUT": f"a{i}", "i": i} for i in range(3)]
    for result in (flat, wrapped, tensors, query):
        assert result.status == 200, result.body
        assert result.outputs == expected


async def test_stream_headers_name_the_request_and_forbid_caching(kernel, api):
    await kernel.run(COUNTER)
    await api.wait_for_model("counter")
    result = await api.stream("inferless/v2/models/counter/generate_stream", {"n": 1})
    rid = result.headers["X-Request-Id"]
    assert result.headers["Location"].endswith(f"/inferless/api/streams/{rid}")
    assert result.headers["Cache-Control"] == "no-store"
    assert result.headers["X-Accel-Buffering"] == "no"
    assert "Content-Encoding" not in result.headers
    assert result.retry == 2000


async def test_streams_while_the_notebook_runs_an_8_second_cell(kernel, api):
    await kernel.run(COUNTER)
    await api.wait_for_model("counter")
    busy = kernel.run_in_background("import time; time.sleep(8); print('slept')")
    await asyncio.sleep(0.5)
    result = await api.stream("inferless/v2/models/counter/generate_stream", {"n": 5})
    assert not busy.done(), "the cell should still be running"
    assert result.outputs == [{"OUT": f"tok{i}", "i": i} for i in range(5)]
    assert result.elapsed < 2.0, f"stream took {result.elapsed:.2f}s behind a busy cell"
    assert "slept" in await busy


async def test_model_is_listed_within_a_second_of_serve_and_gone_after_stop(kernel, api):
    await kernel.run(COUNTER.replace("%inferless serve Counter --name counter", ""))
    await kernel.run("%inferless serve Counter --name counter")
    assert await api.wait_for_model("counter") < 1.0
    status, body = await api.call("inferless/api/models")
    (model,) = body["models"]
    assert model["kernel_id"] == kernel.kernel_id
    assert model["streaming"] is True
    assert model["device"]["device"] == "cpu"
    assert model["counters"] == {"requests": 0, "events": 0, "errors": 0, "active": 0}
    await kernel.run("%inferless stop counter")
    await api.wait_for_model("counter", present=False)
    status, body = await api.call("inferless/v2/models/counter/ready")
    assert status == 404
    assert "counter" in body["error"]


async def test_a_model_raising_ends_its_stream_with_an_in_band_error(kernel, api):
    await kernel.run(
        """
        import jupyter_inferless
        class Broken:
            def infer(self, inputs, stream_output_handler):
                stream_output_handler.send_streamed_output({"OUT": "first"})
                raise RuntimeError("the GPU caught fire")
        jupyter_inferless.serve(Broken, name="broken", input_schema={}, streaming=True)
        """
    )
    await api.wait_for_model("broken")
    result = await api.stream("inferless/v2/models/broken/generate_stream", {})
    assert result.status == 200
    assert result.outputs == [
        {"OUT": "first"},
        {"error": "RuntimeError: the GPU caught fire", "kind": "model_error"},
    ]
