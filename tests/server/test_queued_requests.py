"""Every accepted request ends: the queued ones too, when their model is stopped or
replaced, when they are cancelled before they run, and when their kernel goes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests.support.models import ASYNC_TICKER, PACED
from tests.support.server_state import streams_running
from tests.support.sse_reader import EventLog, StreamResult
from tests.support.waiting import until

SLOW = {"n": 1000, "pause_ms": 50}  # 50 s a run, unless cancelled
RUNNING, QUEUED = 4, 16
ENDS_WITHIN = 30.0  # a generous bound for the test; the is 2 s (reported, not asserted)


def _path(name: str) -> str:
    return f"inferless/v2/models/{name}/generate_stream"


async def _in_flight(api: Any, name: str, count: int) -> None:
    """Wait until the server counts ``count`` requests of ``name`` running or queued."""

    async def in_flight() -> bool:
        _, body = await api.call("inferless/api/models")
        return [m["counters"]["active"] for m in body["models"] if m["name"] == name] == [count]

    await until(in_flight, f"{count} requests of {name!r} in flight", 30)


async def _burst(
    api: Any, serverapp: Any, name: str
) -> tuple[list[asyncio.Task[Any]], list[float]]:
    """20 slow requests of ``name`` (4 run, 16 queued), the time each one ended."""
    ended: list[float] = []
    readers = [asyncio.ensure_future(api.stream(_path(name), SLOW)) for _ in range(20)]
    for reader in readers:
        reader.add_done_callback(lambda _task: ended.append(time.monotonic()))
    await _in_flight(api, name, RUNNING + QUEUED)
    await streams_running(serverapp, count=RUNNING)  # the 4 running have sent events
    return readers, ended


def _check_all_ended(results: list[StreamResult], kind: str, detail: str) -> None:
    """Every stream got its 200 and ended in-band with ``kind``; 16 never ran."""
    assert [result.status for result in results] == [200] * 20
    last = [result.events[-1].json for result in results]
    assert [error.get("kind") for error in last] == [kind] * 20, last
    assert all(detail in error["error"] for error in last), last
    never_ran = [result for result in results if len(result.events) == 1]
    assert len(never_ran) >= QUEUED, [len(result.events) for result in results]


async def _ended_stream_answers(api: Any, rid: str, kind: str = "cancelled") -> None:
    """The stream resource of an ended stream gives its end, or 204: never heartbeats."""
    again = await api.stream(f"inferless/api/streams/{rid}", method="GET")
    assert again.status in (200, 204), again.body
    if again.status == 200:
        assert again.events[-1].json["kind"] == kind
    done = await api.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": f"{rid}:0"}
    )
    assert done.status == 204


SERVE_SLOW = PACED.serve("slow", max_concurrency=RUNNING, queue_size=QUEUED)
SERVE_ASYNC = ASYNC_TICKER.serve("slow", max_concurrency=RUNNING, queue_size=QUEUED)


@pytest.mark.parametrize(
    ("serve", "action", "detail"),
    [
        pytest.param(SERVE_SLOW, "jupyter_inferless.stop('slow')", "stopped", id="stop"),
        pytest.param(SERVE_SLOW, "%inferless stop slow", "stopped", id="magic-stop"),
        pytest.param(SERVE_SLOW, SERVE_SLOW, "replaced", id="serve-again"),
        pytest.param(SERVE_ASYNC, "jupyter_inferless.stop('slow')", "stopped", id="async-stop"),
    ],
)
async def test_stop_or_serve_again_ends_the_queued_requests_in_band(
    kernel, api, jp_serverapp, report, request, serve: str, action: str, detail: str
):
    await kernel.run(serve)
    await api.wait_for_model("slow")
    readers, ended = await _burst(api, jp_serverapp, "slow")
    acted = time.monotonic()
    await kernel.run(action)
    results = await asyncio.wait_for(asyncio.gather(*readers), ENDS_WITHIN)
    took = max(ended) - acted
    report(f"{request.node.callspec.id}: the 20 requests (16 queued) ended within {took:.2f} s")
    _check_all_ended(results, "cancelled", detail)
    queued = next(result for result in results if len(result.events) == 1)
    await _ended_stream_answers(api, queued.headers["X-Request-Id"])
    if detail == "replaced":
        await _in_flight(api, "slow", 0)  # the new model has every slot free
    else:
        await api.wait_for_model("slow", present=False)


async def _open(api: Any, path: str, body: Any) -> tuple[str, asyncio.Future[StreamResult]]:
    """Start a stream; its request id as soon as the 200 arrives, and its whole result."""
    log, rid = EventLog(), asyncio.get_running_loop().create_future()
    headers: dict[str, str] = {}

    def on_header(line: str) -> None:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
        if name.strip().lower() == "x-request-id" and not rid.done():
            rid.set_result(value.strip())

    async def read() -> StreamResult:
        request = HTTPRequest(
            api.url(path), method="POST", body=json.dumps(body),
            headers=api.auth, streaming_callback=log.feed, header_callback=on_header,
            request_timeout=120,
        )  # fmt: skip
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
        log.close()
        return StreamResult(response.code, headers, log.events, None, 0.0, b"")

    result = asyncio.ensure_future(read())
    return await asyncio.wait_for(rid, 30), result


async def test_delete_of_a_queued_request_ends_it_before_it_runs(kernel, api):
    await kernel.run(PACED.serve("slow"))  # one at a time
    await api.wait_for_model("slow")
    _, running = await _open(api, _path("slow"), SLOW)
    rid, queued = await _open(api, _path("slow"), SLOW)
    await _in_flight(api, "slow", 2)
    status, body = await api.call(f"inferless/api/streams/{rid}", method="DELETE")
    assert (status, body["state"]) == (202, "cancelling")
    result = await asyncio.wait_for(queued, ENDS_WITHIN / 2)  # the run ahead takes 50 s
    assert [event.json["kind"] for event in result.events] == ["cancelled"]
    assert not running.done(), "the running request goes on"
    await _ended_stream_answers(api, rid)
    await _in_flight(api, "slow", 1)  # its slot is free
    assert int(await kernel.run("print(len(Paced.handlers))")) == 1, "it never ran"


async def test_the_kernels_death_ends_the_queued_requests_too(kernel, api, jp_serverapp):
    await kernel.run(SERVE_SLOW)
    await api.wait_for_model("slow")
    readers, _ = await _burst(api, jp_serverapp, "slow")
    km = jp_serverapp.kernel_manager.get_kernel(kernel.kernel_id)
    os.kill(km.provisioner.pid, signal.SIGKILL)
    results = await asyncio.wait_for(asyncio.gather(*readers), ENDS_WITHIN)
    _check_all_ended(results, "kernel_gone", "KernelGone")
    queued = next(result for result in results if len(result.events) == 1)
    await _ended_stream_answers(api, queued.headers["X-Request-Id"], "kernel_gone")

    async def restarted() -> bool:  # let the server's restart finish before teardown
        return km.ready.done() and await km.is_alive()

    await until(restarted, "the killed kernel restarted", 30)
