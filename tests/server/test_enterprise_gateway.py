"""Models in kernels of Jupyter Enterprise Gateway 3.3: the server in gateway mode.

Enterprise Gateway pins jupyter_server<2, jupyter_client<7 and pyzmq<25, so it runs from a
venv of its own, as a service would: ``ENTERPRISE_GATEWAY_PYTHON`` names that venv's python
(scripts/test.sh creates it and sets the variable). Its kernels are ours: its only
kernelspec runs this interpreter's ipykernel (7, with jupyter_inferless) under Enterprise
Gateway's default process proxy. The server under test has ``GatewayClient.url`` pointing
at it, starts a kernel there, and serves a model from it as a notebook would.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_server.gateway.gateway_client import GatewayClient

from jupyter_inferless.server.kernels.transport.gateway import GatewayTransport
from tests.support.kernels import NotebookKernel
from tests.support.models import PACED, paced_outputs
from tests.support.remote_kernels import (
    ENTERPRISE_GATEWAY_PYTHON,
    ChannelsClient,
    Gateway,
    clean_up_gateway_mode,
    enterprise_gateway_python,
    running_enterprise_gateway,
    shut_down_remote_kernel,
)
from tests.support.server_config import server_config

pytestmark = pytest.mark.skipif(
    enterprise_gateway_python() is None,
    reason=f"{ENTERPRISE_GATEWAY_PYTHON} is unset: scripts/test.sh makes Enterprise Gateway's "
    "venv (.venv-enterprise-gateway) and sets it",
)

STREAM = "inferless/v2/models/paced/generate_stream"
SERVE_PACED = PACED.define() + "%inferless serve Paced --name paced"


@pytest.fixture
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """An Enterprise Gateway subprocess for this test."""
    python = enterprise_gateway_python()
    assert python is not None
    with running_enterprise_gateway(tmp_path_factory.mktemp("enterprise-gateway"), python) as eg:
        yield eg


@pytest.fixture
def jp_server_config(gateway: Gateway) -> dict[str, Any]:
    """The server in gateway mode, against Enterprise Gateway."""
    GatewayClient.clear_instance()
    return {**server_config(), **gateway.server_config()}


@pytest.fixture(autouse=True)
def jp_server_cleanup(gateway: Gateway, jp_asyncio_loop: Any) -> Iterator[None]:
    """The server's cleanup while Enterprise Gateway still runs; then gateway mode is reset."""
    yield
    clean_up_gateway_mode(jp_asyncio_loop)


@pytest.fixture
def kernel(
    jp_serverapp: Any, api: Any, gateway: Gateway, jp_asyncio_loop: Any
) -> Iterator[NotebookKernel]:
    """A kernel the server started on Enterprise Gateway, with the extension loaded."""

    async def start() -> NotebookKernel:
        status, model = await api.call("api/kernels", {"name": "python3"}, method="POST")
        assert status == 201, f"{model}\n{gateway.log_tail()}"
        client = ChannelsClient(gateway.channels_url(model["id"]), gateway.auth)
        notebook = NotebookKernel(model["id"], client)
        await notebook.run("%load_ext jupyter_inferless", timeout=60)
        return notebook

    notebook = jp_asyncio_loop.run_until_complete(start())
    yield notebook
    notebook.client.stop_channels()
    jp_asyncio_loop.run_until_complete(shut_down_remote_kernel(api, notebook.kernel_id))


@pytest.fixture
def paced(kernel: NotebookKernel, api: Any, jp_asyncio_loop: Any) -> Any:
    """The api, once the kernel serves Paced (``%inferless serve``) as ``paced``."""

    async def serve() -> None:
        await kernel.run(SERVE_PACED)
        await api.wait_for_model("paced", timeout=30)

    jp_asyncio_loop.run_until_complete(serve())
    return api


def _gateway_kernels(gateway: Gateway) -> list[str]:
    request = urllib.request.Request(gateway.url + "/api/kernels", headers=gateway.auth)
    with urllib.request.urlopen(request, timeout=10) as response:
        return [kernel["id"] for kernel in json.load(response)]


async def test_model_on_enterprise_gateway_is_listed_and_streams_every_event_in_order(
    paced, kernel, gateway, jp_serverapp, jp_runtime_dir
):
    assert _gateway_kernels(gateway) == [kernel.kernel_id], "the kernel runs on the gateway"
    status, body = await paced.call("inferless/api/models")
    assert status == 200
    (model,) = body["models"]
    assert (model["name"], model["kernel_id"]) == ("paced", kernel.kernel_id)
    result = await paced.stream(STREAM, {"n": 500})
    assert result.status == 200
    assert [event.position for event in result.events] == list(range(500))
    assert result.outputs == paced_outputs(500)
    bridge = jp_serverapp.web_app.settings["inferless_service"].catalog.bridges[kernel.kernel_id]
    assert isinstance(bridge.transport, GatewayTransport)
    assert bridge.transport.subshell_id, "the serving comm is on a subshell"
    assert not list(jp_runtime_dir.glob("kernel-*.json")), "no local connection file"


async def test_delete_stops_a_model_on_enterprise_gateway_within_2_events(paced, kernel):
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


async def test_a_notebook_tab_through_the_servers_relay_survives_a_stream(paced, kernel, api):
    url = api.url(f"api/kernels/{kernel.kernel_id}/channels").replace("http", "ws", 1)
    tab = NotebookKernel(kernel.kernel_id, ChannelsClient(url, api.auth))
    try:
        assert "1" in await tab.run("print(1)", timeout=10)
        assert (await paced.stream(STREAM, {"n": 50})).outputs == paced_outputs(50)
        assert "2" in await tab.run("print(2)", timeout=10), "the tab's relay survived"
    finally:
        tab.client.stop_channels()
