"""Async models: one long-lived event loop per model, requests as tasks on it, cancels that
reach an awaiting task, and a slow client that never blocks the loop for the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from jupyter_inferless.protocol import ErrorKind
from tests.support.kernels import NotebookKernel
from tests.support.models import ASYNC_ENGINE, ASYNC_PADDED, counter_outputs
from tests.support.non_reader import NonReader, holds_still
from tests.support.server_config import server_config

STREAM = "inferless/v2/models/engine/generate_stream"
CREDIT_EVENTS = 64


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """A small credit, so that a client that reads nothing stops the server granting more."""
    return server_config(credit_events=CREDIT_EVENTS)


@pytest.fixture
def engine(serving):
    """A kernel serving AsyncEngine as ``engine`` (max concurrency 64)."""
    return serving(ASYNC_ENGINE.serve("engine", max_concurrency=64, queue_size=0), "engine")


async def test_one_loop_from_initialize_to_finalize_for_64_concurrent_requests(engine, kernel):
    results = await asyncio.gather(
        *(engine.stream(STREAM, {"n": 20, "pause_ms": 5}) for _ in range(64))
    )
    for result in results:
        assert result.status == 200
        assert result.outputs == counter_outputs(20)
    counts = await kernel.run("print(len(AsyncEngine.loops), len(AsyncEngine.threads))")
    # initialize's queue and task are used by every request: one loop, one thread, not 64.
    assert counts.split() == ["1", "1"]
    await kernel.run("%inferless stop engine")
    finalized = await kernel.run(
        "import threading\n"
        "print(AsyncEngine.finalized_on in AsyncEngine.loops,\n"
        "      any(t.name.startswith('inferless-loop-') for t in threading.enumerate()))"
    )
    assert finalized.split() == ["True", "False"], (
        "finalize runs on the model's loop, then the loop ends"
    )


async def test_delete_cancels_a_task_that_is_awaiting(engine, kernel):
    _, headers = await engine.stream_then_drop(STREAM, {"n": 50, "pause_ms": 1500}, keep=1)
    rid = headers["x-request-id"]
    status, _ = await engine.call(f"inferless/api/streams/{rid}", method="DELETE")
    assert status == 202
    rest = await engine.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": f"{rid}:0"}
    )
    assert rest.events[-1].json["kind"] == "cancelled"
    # The task was cancelled while it awaited the engine's next event: the engine never
    # produced that event (without the task's cancel, the stream would end only after it).
    produced = await kernel.run("print(AsyncEngine.produced)")
    assert produced.strip() == "1"


async def test_a_client_that_reads_nothing_never_blocks_the_loop(engine):
    total = CREDIT_EVENTS * 20
    kept, headers = await engine.stream_then_drop(STREAM, {"n": total}, keep=1)
    rid = headers["x-request-id"]
    # The first stream is past its credit and its client is gone: its events wait in the
    # kernel. Other requests on the same loop still stream to their end.
    others = await asyncio.gather(*(engine.stream(STREAM, {"n": 30}) for _ in range(4)))
    assert all(result.outputs == counter_outputs(30) for result in others)
    rest = await engine.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": f"{rid}:0"}
    )
    assert [event.position for event in kept + rest.events] == list(range(total))
    assert rest.outputs == counter_outputs(1, total)


@pytest.mark.parametrize("asend", [False, True], ids=["send_streamed_output", "asend"])
async def test_a_client_that_reads_nothing_holds_up_no_other_request(
    kernel: NotebookKernel, api: Any, jp_serverapp: Any, asend: bool, report: Callable[[str], None]
) -> None:
    """The issue's case: a fast async model, one client that reads nothing, five that read.

    Its events past the credit wait in the kernel up to their byte bound; then ``asend``
    pauses that request alone, and a plain send_streamed_output cuts it (it cannot wait
    on the loop). Either way the model's loop runs on, and the others stream to the end.
    """
    await kernel.run(ASYNC_PADDED.serve("fast", max_concurrency=8, queue_size=0))
    await api.wait_for_model("fast")
    path = "inferless/v2/models/fast/generate_stream"

    async def produced() -> int:
        return int(await kernel.run("print(AsyncPadded.produced)"))

    stalled = await NonReader.open(
        api.url(path), api.auth, {"n": 100_000, "size": 1000, "asend": asend}
    )
    try:
        paused_at = await holds_still(produced)
        started = time.monotonic()
        body = {"n": 2000, "size": 1000, "asend": asend}
        others = await asyncio.wait_for(
            asyncio.gather(*(api.stream(path, body) for _ in range(5))), 90
        )
        elapsed = time.monotonic() - started
        for result in others:
            assert result.status == 200
            assert [event.position for event in result.events] == list(range(2000))
            assert "error" not in result.events[-1].json
        stream = jp_serverapp.web_app.settings["inferless_service"].broker.get(stalled.rid)
        if asend:
            assert await produced() == paused_at + 5 * 2000, "the stalled request stays paused"
            assert not stream.ended
        else:
            assert stream.ended and stream.error["kind"] is ErrorKind.CANCELLED
            assert "asend" in stream.error["message"]
        report(
            f"async model, a client reading nothing ({'asend' if asend else 'send'}): 5 other "
            f"requests of 2000 1 KB events in {elapsed:.2f} s ({5 * 2000 / elapsed:.0f} events/s); "
            f"the stalled request's producer stopped after {paused_at} events"
        )
    finally:
        stalled.close()
