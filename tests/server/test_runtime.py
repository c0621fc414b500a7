"""The kernel runtime: magics, serve failures, lost frames, shutdown."""

from __future__ import annotations

import asyncio

TICKER = """
import jupyter_inferless

class Ticker:
    def infer(self, inputs, stream_output_handler):
        for i in range(inputs["n"]):
            stream_output_handler.send_streamed_output({"i": i})
        stream_output_handler.finalise_streamed_output()

jupyter_inferless.serve(
    Ticker, name="ticker", streaming=True,
    input_schema={"n": {"datatype": "INT32", "required": True, "shape": [1]}},
)
"""

LOSSY_LINK = """
from jupyter_inferless.kernel import Runtime

link = next(iter(Runtime.current().links.values()))
deliver = link.outbox.publish
dropped = []

def lossy(frame, buffers):
    # IOPub drops messages under pressure; drop every 5th frame once, as it would.
    if frame["seq"] % 5 == 0 and frame["seq"] not in dropped:
        dropped.append(frame["seq"])
        return
    deliver(frame, buffers)

link.outbox.publish = lossy
link.outbox.max_frame_bytes = 200  # many small frames: about 15 events each
"""


async def test_lost_frames_are_detected_and_sent_again(kernel, api):
    await kernel.run(TICKER)
    await api.wait_for_model("ticker")
    await kernel.run(LOSSY_LINK)
    result = await api.stream("inferless/v2/models/ticker/generate_stream", {"n": 3000})
    assert [event.position for event in result.events] == list(range(3000))
    assert result.outputs == [{"i": i} for i in range(3000)]
    dropped = await kernel.run("print(len(dropped))")
    assert int(dropped) >= 3, "the test should really have lost frames"


async def test_magics_list_stop_and_usage(kernel, api):
    await kernel.run(TICKER)
    listing = await kernel.run("%inferless list")
    assert "ticker: Ticker (streaming) on cpu, 0 active, max concurrency 1" in listing
    usage = await kernel.run("%inferless")
    assert "%inferless serve TARGET" in usage
    wrong = await kernel.run("%inferless serve", allow_error=True)
    assert "MagicUsageError" in wrong and "usage:" in wrong
    missing = await kernel.run("%inferless stop nothing", allow_error=True)
    assert "no model named 'nothing' is served (served: ticker)" in missing
    await kernel.run("%inferless stop ticker")
    assert "no models are served" in await kernel.run("%inferless list")


async def test_a_failing_initialize_shows_in_the_cell_and_serves_nothing(kernel, api):
    output = await kernel.run(
        """
        class Heavy:
            def initialize(self):
                raise FileNotFoundError("weights.bin")
            def infer(self, inputs):
                return {}
        %inferless serve Heavy
        """,
        allow_error=True,
    )
    assert "FileNotFoundError" in output and "weights.bin" in output
    await kernel.run(TICKER)  # what the kernel told the server of Heavy came before this
    await api.wait_for_model("ticker")
    _, body = await api.call("inferless/api/models")
    assert [model["name"] for model in body["models"]] == ["ticker"]


async def test_bad_schema_and_name_are_refused_at_serve(kernel):
    output = await kernel.run(
        """
        INPUT_SCHEMA = {"x": {"datatype": "FP32", "required": True, "shape": [1]}}
        IS_STREAMING_OUTPUT = True
        class M:
            def infer(self, inputs, stream_output_handler):
                pass
        %inferless serve M
        """,
        allow_error=True,
    )
    assert "SchemaError" in output and "INPUT_SCHEMA['x']" in output
    named = await kernel.run("%inferless serve M --name 'bad name'", allow_error=True)
    assert "model name 'bad name'" in named


async def test_device_is_the_best_torch_device(kernel):
    output = await kernel.run("import jupyter_inferless; print(jupyter_inferless.device())")
    assert output.strip() == "cpu"


async def test_shutting_the_kernel_down_removes_its_models(kernel, api, jp_serverapp):
    await kernel.run(TICKER)
    await api.wait_for_model("ticker")
    await jp_serverapp.kernel_manager.shutdown_kernel(kernel.kernel_id, now=True)
    await api.wait_for_model("ticker", present=False)


async def test_a_sync_model_starts_all_its_worker_threads_when_served(kernel, api):
    await kernel.run(TICKER.replace('name="ticker",', 'name="ticker", max_concurrency=8,'))
    await api.wait_for_model("ticker")
    count = (
        "import threading\n"
        "print(sum(t.name.startswith('inferless-ticker') for t in threading.enumerate()))"
    )
    # a burst then waits for no thread to be made (each start waits for the GIL under load)
    assert (await kernel.run(count)).strip() == "8"
    result = await asyncio.gather(
        *(api.stream("inferless/v2/models/ticker/generate_stream", {"n": 30}) for _ in range(8))
    )
    assert all(r.outputs == [{"i": i} for i in range(30)] for r in result)
    assert (await kernel.run(count)).strip() == "8"
