"""A notebook's streaming model, served by a real server from a real kernel."""

from __future__ import annotations

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
    assert [event.id for event in result.events] == [str(i) for i in range(300)]
    assert result.outputs == [{"OUT": f"tok{i}", "i": i} for i in range(300)]
