"""A transformers model served from a real kernel: a cancel stops generate() within a token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers", reason="transformers is missing: pip install '.[hf]'")

from tests.support.clock import ManualClock
from tests.support.models import Model, spec
from tests.support.server_config import server_config
from tests.support.server_state import service_of
from tests.support.waiting import until

STREAM = "inferless/v2/models/hf/generate_stream"
MAX_NEW_TOKENS = 3000
GRACE = 30.0
BUILDER = (Path(__file__).parents[1] / "support" / "tiny_causal_lm.py").read_text()

HF_GENERATE = Model(
    "HFGenerate",
    f'''
    import sys
    import threading
    import time
    import types

    import torch
    from transformers import StoppingCriteria

    from jupyter_inferless.hf import stream_generate

    tiny_causal_lm = types.ModuleType("tiny_causal_lm")
    exec(compile({BUILDER!r}, "tiny_causal_lm.py", "exec"), tiny_causal_lm.__dict__)
    sys.modules["tiny_causal_lm"] = tiny_causal_lm


    class TokenClock(StoppingCriteria):
        """Never stops generate(): notes when each token was made, then pauses (a bigger
        model's pace)."""

        def __init__(self, pause):
            self.pause = pause
            self.times = []

        def __call__(self, input_ids, scores, **kwargs):
            self.times.append(time.monotonic())
            time.sleep(self.pause)
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


    class HFGenerate:
        """The tiny GPT-2 streamed by stream_generate; HFGenerate.runs keeps each request's
        handler, token clock, how its infer ended, and an Event set once it did."""

        runs = []

        def initialize(self):
            self.model, self.tokenizer = tiny_causal_lm.build()

        def infer(self, inputs, stream_output_handler):
            clock = TokenClock(inputs.get("pause_ms", 0) / 1000)
            run = {{
                "handler": stream_output_handler,
                "clock": clock,
                "ended": None,
                "done": threading.Event(),
            }}
            HFGenerate.runs.append(run)
            try:
                stream_generate(
                    self.model,
                    self.tokenizer,
                    stream_output_handler,
                    inputs["prompt"],
                    max_new_tokens=inputs["max_new_tokens"],
                    do_sample=False,
                    stopping_criteria=[clock],
                )
            except BaseException as err:
                run["ended"] = type(err).__name__
                raise
            else:
                run["ended"] = "finished"
            finally:
                run["done"].set()
    ''',
    {
        "prompt": spec("STRING", example="There is a fine house"),
        "max_new_tokens": spec("INT32", example=32),
        "pause_ms": spec("INT32", False, 0),
    },
)

REPORT_LAST_RUN = """
import json
run = HFGenerate.runs[-1]
run["done"].wait(20)
cancelled_at = run["handler"]._sink.cancelled_at
times = run["clock"].times
print(json.dumps({
    "ended": run["ended"],
    "tokens": len(times),
    "after_cancel": None if cancelled_at is None else sum(t > cancelled_at for t in times),
    "cancelled_at": cancelled_at,
    "events": run["handler"].events_sent,
}))
"""


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """The streams' grace period runs on a clock the test moves."""
    return server_config(disconnect_grace=GRACE, clock_class=ManualClock)


@pytest.fixture
def hf(serving):
    """A kernel serving the tiny transformers model as ``hf``."""
    return serving(HF_GENERATE.serve("hf"), "hf")


async def last_run(kernel) -> dict[str, Any]:
    """How the kernel's last request ended: tokens generated, and after the cancel."""
    report: dict[str, Any] = json.loads(await kernel.run(REPORT_LAST_RUN))
    print(f"tokens generated after the cancel reached the kernel: {report}")
    return report


async def test_a_generation_streams_to_its_end(hf, kernel):
    result = await hf.stream(STREAM, {"prompt": "There is a fine house", "max_new_tokens": 40})
    assert result.status == 200
    assert len(result.outputs) == 40 and all(set(out) == {"OUT"} for out in result.outputs)
    report = await last_run(kernel)
    assert report["ended"] == "finished" and report["tokens"] == 40


async def test_delete_stops_generate_within_one_token(hf, kernel):
    body = {"prompt": "There is a fine house", "max_new_tokens": MAX_NEW_TOKENS, "pause_ms": 5}
    _, headers = await hf.stream_then_drop(STREAM, body, keep=5)
    rid = headers["x-request-id"]
    status, reply = await hf.call(f"inferless/api/streams/{rid}", method="DELETE")
    assert status == 202 and reply["cancelled"] is True
    rest = await hf.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": "4"}
    )
    assert rest.events[-1].json["kind"] == "cancelled"
    report = await last_run(kernel)
    assert report["ended"] == "StreamCancelled"
    assert report["after_cancel"] <= 1, report
    assert report["tokens"] < MAX_NEW_TOKENS


async def test_a_client_gone_past_the_grace_period_stops_generate_within_one_token(
    hf, kernel, jp_serverapp
):
    body = {"prompt": "There is a fine house", "max_new_tokens": MAX_NEW_TOKENS, "pause_ms": 5}
    _, headers = await hf.stream_then_drop(STREAM, body, keep=5)
    broker = service_of(jp_serverapp).broker
    stream = broker.get(headers["x-request-id"])
    await until(lambda: stream.subscribers == 0, "the server seeing the client go")
    broker.clock.advance(GRACE - 1)
    assert not stream.ended, "not cancelled within the grace period"
    assert await kernel.run("print(HFGenerate.runs[-1]['ended'])") == "None\n", "it generates"
    broker.clock.advance(1)  # the grace period is over
    report = await last_run(kernel)  # waits for the request's infer to end
    assert report["ended"] == "StreamCancelled"
    assert report["after_cancel"] <= 1, report
    assert report["tokens"] < MAX_NEW_TOKENS
    rid = headers["x-request-id"]
    rest = await hf.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": "4"}
    )
    assert rest.events[-1].json["kind"] == "cancelled"
