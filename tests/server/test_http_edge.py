"""The HTTP edge: bodies refused before they are read, turns only for authenticated runs,
v2 readiness, and a queued EventSource stream that answers at once.

Real servers, real sockets: the 100 MB body goes to a server process whose memory is read
from /proc; the rest to the in-process server of the fixtures.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import tritonclient.http as triton

from tests.support.lab_server import running_lab
from tests.support.memory import MIB, PeakRss
from tests.support.models import PACED
from tests.support.raw_http import connect, head, read_until, upload
from tests.support.server_config import server_config
from tests.support.sse_reader import read_stream
from tests.support.waiting import until

LIMIT = 64 * 1024
STREAM = "inferless/v2/models/paced/generate_stream"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """A small body limit, and one request let in per turn of the loop."""
    return server_config(max_body_bytes=LIMIT, requests_per_turn=1)


@pytest.fixture
def paced(serving: Any) -> Any:
    """The api, with Paced served as 'paced': one run at a time, four more queued."""
    return serving(PACED.serve("paced", max_concurrency=1, queue_size=4), "paced")


def service(jp_serverapp: Any) -> Any:
    """The extension's service in the in-process server."""
    return jp_serverapp.web_app.settings["inferless_service"]


@linux_only
@pytest.mark.parametrize("head_wait", [2.0, 0.0], ids=["waits-for-an-answer", "sends-at-once"])
def test_an_unauthenticated_100_mb_body_is_refused_before_it_is_read(
    tmp_path: Path, head_wait: float, report
):
    """Regression: the body was read into memory before the credentials were looked at."""
    with running_lab(tmp_path) as lab, PeakRss(lab.pid) as memory:
        before = memory.sample()
        headers = {"Content-Type": "application/json"}
        result = upload(lab.url + STREAM, headers, 100_000_000, head_wait=head_wait)
    grew = (memory.peak - before) / MIB
    report(
        f"http edge: an unauthenticated 100 MB body (client {'waits' if head_wait else 'eager'}"
        f"): answered {result.status} after {result.sent / MIB:.1f} MiB sent, in "
        f"{result.seconds * 1e3:.0f} ms; the server grew {grew:.1f} MiB at most (under 10 MB)"
    )
    assert result.status in ((403,) if head_wait else (403, None)), result.answer[:300]
    assert result.sent < (1 if head_wait else 100_000_000), "the server read the body"
    assert grew * MIB < 10_000_000


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_authenticated_body_over_the_limit_gets_413_before_it_is_all_sent(
    api: Any, chunked: bool, report
):
    """Regression: max_body_bytes was checked once tornado had read the whole body."""
    headers = {**api.auth, "Content-Type": "application/json"}
    head_wait = 0.0 if chunked else 2.0  # a length is refused before any of the body
    result = await asyncio.to_thread(upload, api.url(STREAM), headers, 50 * MIB, chunked, head_wait)
    report(
        f"http edge: an authenticated 50 MiB body ({'chunked' if chunked else 'with a length'}"
        f", limit {LIMIT // 1024} KiB): {result.status} after {result.sent / MIB:.1f} MiB sent, "
        f"in {result.seconds * 1e3:.0f} ms"
    )
    assert result.status == 413, result.answer[:300]
    body = json.loads(result.answer.partition(b"\r\n\r\n")[2])
    assert body == {"error": f"the body is larger than {LIMIT} bytes", "kind": "too_large"}
    assert result.sent < 50 * MIB
    if not chunked:  # the length says it all: answered before any of the body is sent
        assert result.sent == 0


async def test_unauthenticated_requests_take_no_turn(paced: Any, jp_serverapp: Any) -> None:
    """Regression: every request waited for a turn before authentication, so a burst of
    unauthenticated requests held up the runs; now only a request that starts one waits."""
    gate = service(jp_serverapp).turns
    before = gate.entered
    forged = {"Authorization": "token not-the-token"}
    burst = [
        read_stream(paced.url(STREAM), body={"n": 1}, headers=forged if n % 2 else {})
        for n in range(100)
    ] + [
        read_stream(paced.url(STREAM + "?n=1"), method="GET", headers=forged if n % 2 else {})
        for n in range(100)
    ]
    run = paced.stream(STREAM, {"n": 2})
    *refused, ran = await asyncio.gather(*burst, run)
    assert {result.status for result in refused} == {403}
    assert ran.status == 200 and len(ran.events) == 2
    assert gate.entered - before == 1, "only the authenticated run took a turn"


async def test_ready_once_a_model_is_served_and_linked(
    kernel: Any, api: Any, jp_serverapp: Any
) -> None:
    """Regression: health/ready always answered true. KServe v2: 200 when ready, 400 not;
    tritonclient's is_server_ready reads the status."""
    url = api.url("inferless").removeprefix("http://")

    def triton_ready() -> bool:
        client = triton.InferenceServerClient(url)
        try:
            return bool(client.is_server_ready(headers=dict(api.auth)))
        finally:
            client.close()

    async def ready() -> tuple[int, Any, bool]:
        status, body = await api.call("inferless/v2/health/ready")
        return status, body, await asyncio.to_thread(triton_ready)

    assert await ready() == (400, {"ready": False, "error": "no model is served"}, False)
    await kernel.run(PACED.serve("paced"))
    await api.wait_for_model("paced")
    assert await ready() == (200, {"ready": True}, True)
    bridge = service(jp_serverapp).catalog.bridges[kernel.kernel_id]
    comm_id, bridge.transport.comm_id = bridge.transport.comm_id, None  # as if unlinked
    try:
        unlinked = await ready()
    finally:
        bridge.transport.comm_id = comm_id
    assert unlinked == (400, {"ready": False, "error": "model 'paced' has no linked kernel"}, False)
    assert (await api.call("inferless/v2/health/live")) == (200, {"live": True})


async def test_a_queued_eventsource_stream_gets_its_headers_and_a_comment_at_once(
    paced: Any, report
) -> None:
    """Regression: a GET stream waiting in its model's queue sent nothing for one heartbeat
    interval (15 s), and clients with a read timeout gave up on it."""
    busy = asyncio.ensure_future(paced.stream(STREAM, {"n": 60, "pause_ms": 100}))  # 6 s

    async def running() -> bool:
        return bool(
            (await paced.call("inferless/api/models"))[1]["models"][0]["counters"]["active"]
        )

    await until(running, "the first run started", 30)

    def queued_get() -> tuple[bytes, float]:
        sock = connect(paced.url(STREAM))
        try:
            sock.sendall(head(paced.url(STREAM + "?n=1"), "GET", dict(paced.auth)))
            return read_until(sock, b"\n:\n", timeout=30.0)
        finally:
            sock.close()

    received, seconds = await asyncio.to_thread(queued_get)
    report(f"http edge: a queued GET stream had its headers and a comment in {seconds:.3f} s")
    assert received.startswith(b"HTTP/1.1 200"), received[:300]
    assert b"text/event-stream" in received and b"retry: " in received
    assert not busy.done(), "they came while the run before it still ran, not when it ended"
    ended = await busy
    assert ended.status == 200 and len(ended.events) == 60
