"""Models in remote kernels: a real Kernel Gateway, the server in gateway mode.

The server under test runs with ``GatewayClient.url`` pointing at a Kernel Gateway
subprocess and starts its kernels there. The tests drive a kernel as a notebook does, over
a kernel websocket of the gateway's own. jupyter_server's relay of that websocket (the
server's ``api/kernels/ID/channels`` in gateway mode, what a notebook tab uses) forwards
every message as text, so the kernel sends frames on gateway links without a binary buffer;
the last test keeps a tab open on the relay while a model streams.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("kernel_gateway", reason="needs jupyter-kernel-gateway")

from jupyter_server.gateway.gateway_client import GatewayClient

from jupyter_inferless.server.kernels.transport.gateway import GatewayTransport
from tests.support.held_cell import HeldCell
from tests.support.kernels import NotebookKernel
from tests.support.models import PACED, paced_outputs, paced_text
from tests.support.remote_kernels import (
    ChannelsClient,
    Gateway,
    clean_up_gateway_mode,
    running_gateway,
    shut_down_remote_kernel,
)
from tests.support.server_config import server_config
from tests.support.server_state import streams_running
from tests.support.waiting import until

STREAM = "inferless/v2/models/paced/generate_stream"
SERVE_PACED = PACED.define() + "%inferless serve Paced --name paced"


@pytest.fixture
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A Kernel Gateway subprocess for this test."""
    with running_gateway(tmp_path_factory.mktemp("gateway")) as running:
        yield running


@pytest.fixture
def jp_server_config(gateway: Gateway) -> dict[str, Any]:
    """The server in gateway mode."""
    GatewayClient.clear_instance()
    return {**server_config(), **gateway.server_config()}


@pytest.fixture(autouse=True)
def jp_server_cleanup(gateway: Gateway, jp_asyncio_loop: Any) -> Iterator[None]:
    """pytest-jupyter's cleanup of the server while the gateway still runs, then gateway
    mode reset."""
    yield
    clean_up_gateway_mode(jp_asyncio_loop)


def remote_kernel(api: Any, gateway: Gateway, loop: Any) -> Iterator[NotebookKernel]:
    """A kernel the server starts on the gateway, with the extension loaded; shut down after."""

    async def start() -> NotebookKernel:
        status, model = await api.call("api/kernels", {"name": "python3"}, method="POST")
        assert status == 201, model
        client = ChannelsClient(gateway.channels_url(model["id"]), gateway.auth)
        notebook = NotebookKernel(model["id"], client)
        await notebook.run("%load_ext jupyter_inferless")
        return notebook

    notebook = loop.run_until_complete(start())
    yield notebook
    notebook.client.stop_channels()
    loop.run_until_complete(shut_down_remote_kernel(api, notebook.kernel_id))


@pytest.fixture
def kernel(
    jp_serverapp: Any, api: Any, gateway: Gateway, jp_asyncio_loop: Any
) -> Iterator[NotebookKernel]:
    """A kernel the server started on the gateway, with the extension loaded."""
    yield from remote_kernel(api, gateway, jp_asyncio_loop)


@pytest.fixture
def paced(kernel: NotebookKernel, api: Any, jp_asyncio_loop: Any) -> Any:
    """The api, once the remote kernel serves Paced (``%inferless serve``) as ``paced``."""

    async def serve() -> None:
        await kernel.run(SERVE_PACED)
        await api.wait_for_model("paced", timeout=30)

    jp_asyncio_loop.run_until_complete(serve())
    return api


def _catalog(serverapp: Any) -> Any:
    return serverapp.web_app.settings["inferless_service"].catalog


async def test_remote_model_is_listed_and_streams_every_event_in_order(
    paced, kernel, jp_serverapp, jp_runtime_dir
):
    status, body = await paced.call("inferless/api/models")
    assert status == 200
    (model,) = body["models"]
    assert (model["name"], model["kernel_id"]) == ("paced", kernel.kernel_id)
    result = await paced.stream(STREAM, {"n": 5000})
    assert result.status == 200
    assert [event.position for event in result.events] == list(range(5000))
    assert result.outputs == paced_outputs(5000)
    bridge = _catalog(jp_serverapp).bridges[kernel.kernel_id]
    assert isinstance(bridge.transport, GatewayTransport)
    assert not list(jp_runtime_dir.glob("kernel-*.json")), "no local connection file"


async def test_remote_model_streams_while_the_notebook_runs_a_cell(paced, kernel, tmp_path):
    async with HeldCell(kernel, tmp_path) as busy:  # runs until released, after the stream
        result = await paced.stream(STREAM, {"n": 5})
        assert not busy.cell.done(), "the cell should still be running"
        assert result.outputs == paced_outputs(5)
        assert "released" in await busy.release()


async def test_delete_stops_a_remote_model_within_2_events(paced, kernel):
    _, headers = await paced.stream_then_drop(STREAM, {"n": 5000, "pause_ms": 10}, keep=20)
    rid = headers["x-request-id"]
    status, body = await paced.call(f"inferless/api/streams/{rid}", method="DELETE")
    assert status == 202 and body["cancelled"] is True
    rest = await paced.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": "19"}
    )
    assert rest.events[-1].json["kind"] == "cancelled"
    after = await kernel.run(
        "h = Paced.handlers[-1]\n"
        "print(sum(1 for t in h.sent_at if t > h._sink.cancelled_at), len(h.sent_at))"
    )
    more, total = map(int, after.split())
    assert more <= 2, f"the model sent {more} events after the cancel"
    assert total < 5000


async def test_remote_stream_resumes_after_a_drop(paced):
    kept, headers = await paced.stream_then_drop(STREAM, {"n": 400, "pause_ms": 5}, keep=100)
    assert [event.position for event in kept] == list(range(100))
    rid = headers["x-request-id"]
    rest = await paced.stream(
        f"inferless/api/streams/{rid}", method="GET", headers={"Last-Event-ID": "99"}
    )
    assert rest.status == 200
    assert [event.position for event in rest.events] == list(range(100, 400))
    assert rest.outputs == paced_outputs(100, 400)


async def test_killing_the_remote_kernel_ends_its_stream_in_band(paced, gateway, jp_serverapp):
    reader = asyncio.ensure_future(paced.stream(STREAM, {"n": 1000, "pause_ms": 50}))
    await streams_running(jp_serverapp)
    (pid,) = gateway.kernel_pids()
    os.kill(pid, signal.SIGKILL)
    result = await asyncio.wait_for(reader, 30)
    assert result.status == 200
    assert result.events[0].json == paced_outputs(1)[0]
    assert len(result.events) < 1000, "the stream ended early, at the kill"
    assert result.events[-1].json["kind"] == "kernel_gone"
    assert "KernelGone" in result.events[-1].json["error"]
    await paced.wait_for_model("paced", present=False)


async def test_a_notebook_tab_through_the_servers_relay_survives_a_stream(paced, kernel, api):
    url = api.url(f"api/kernels/{kernel.kernel_id}/channels").replace("http", "ws", 1)
    tab = NotebookKernel(kernel.kernel_id, ChannelsClient(url, api.auth))
    try:
        assert "1" in await tab.run("print(1)", timeout=10)
        assert (await paced.stream(STREAM, {"n": 50})).outputs == paced_outputs(50)
        assert "2" in await tab.run("print(2)", timeout=10), "the tab's relay survived"
    finally:
        tab.client.stop_channels()


async def test_the_inline_view_of_a_remote_kernel_streams_over_its_link(paced, kernel):
    # The view asks the server over the kernel's link: it never needs the server's URL.
    await kernel.run("import jupyter_inferless\nview = %inferless stream paced n=30 pause_ms=1")
    out = await kernel.run("print(repr((view.wait(30), view.events, view.text)))")
    assert eval(out.strip().splitlines()[-1]) == ("done", 30, paced_text(30))


@pytest.fixture
def second_kernel(
    jp_serverapp: Any, api: Any, gateway: Gateway, jp_asyncio_loop: Any
) -> Iterator[NotebookKernel]:
    """Another kernel the server started on the gateway, with the extension loaded."""
    yield from remote_kernel(api, gateway, jp_asyncio_loop)


async def test_two_remote_kernels_are_replicas_of_one_model(
    kernel, second_kernel, api, gateway, jp_serverapp
):
    serve = PACED.serve("paced", max_concurrency=1, queue_size=0)
    for notebook in (kernel, second_kernel):
        await notebook.run(serve)

    async def two_replicas() -> bool:
        _, body = await api.call("inferless/api/models")
        models = [m for m in body["models"] if m["name"] == "paced"]
        return bool(models) and len(models[0]["replicas"]) == 2

    await until(two_replicas, "the two remote kernels as two replicas of 'paced'", 30)
    long = {"n": 400, "pause_ms": 25}
    first = asyncio.ensure_future(api.stream(STREAM, long))
    other = asyncio.ensure_future(api.stream(STREAM, long))
    await streams_running(jp_serverapp, count=2)
    counts = [int(await k.run("print(len(Paced.handlers))")) for k in (kernel, second_kernel)]
    assert counts == [1, 1], "one long request on each remote replica"
    status, body = await api.call(STREAM, {"n": 1}, method="POST")
    assert status == 429 and "on all 2 replicas" in body["error"]
    # kill -9 one replica's kernel: its stream ends in-band, the other replica keeps serving.
    pids = gateway.kernel_pids()
    assert len(pids) == 2
    os.kill(pids[0], signal.SIGKILL)
    ended = await asyncio.wait_for(asyncio.gather(first, other), 60)
    kinds = [result.events[-1].json.get("kind") for result in ended]
    assert sorted(kinds, key=str) == sorted([None, "kernel_gone"], key=str), kinds
    after = await asyncio.wait_for(api.stream(STREAM, {"n": 5}), 30)
    assert after.outputs == paced_outputs(5)
