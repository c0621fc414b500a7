"""One Python value, one KServe datatype, whichever path it takes: the Python client's
request, the request ``jupyter inferless serve`` prints, the server's v2 outputs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from jupyter_inferless.client import Client
from jupyter_inferless.headless import v2_request

ECHO = """
import jupyter_inferless

class Echo:
    '''No INPUT_SCHEMA: its outputs are its inputs.'''

    def infer(self, inputs):
        return dict(inputs)

jupyter_inferless.serve(Echo, name="echo", streaming=False)
"""
VALUES = {"x": 0.5, "n": 3, "flag": True, "text": "hi", "mixed": [1, 2.5]}
EXPECTED = {"x": "FP64", "n": "INT64", "flag": "BOOL", "text": "BYTES", "mixed": "FP64"}


class Recording(httpx.HTTPTransport):
    """A real HTTP transport that keeps the JSON bodies it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Any] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(json.loads(request.read()))
        return super().handle_request(request)


@pytest.fixture
def echo(serving: Any) -> Any:
    """A kernel serving echo."""
    return serving(ECHO, "echo")


async def test_a_python_float_is_fp64_on_every_path(echo: Any) -> None:
    api = echo
    token = api.auth["Authorization"].split()[1]
    transport = Recording()

    def infer() -> dict[str, Any]:
        with Client(api.base, token, transport=transport) as client:
            return client.infer("echo", VALUES)

    assert await asyncio.to_thread(infer) == VALUES
    (request,) = transport.sent
    by_client = {tensor["name"]: tensor["datatype"] for tensor in request["inputs"]}

    status, listed = await api.call("inferless/api/models")
    assert status == 200, listed
    (model,) = listed["models"]
    printed = v2_request(model, VALUES)  # what `jupyter inferless serve` prints to try
    by_headless = {tensor["name"]: tensor["datatype"] for tensor in printed["inputs"]}

    status, reply = await api.call("inferless/v2/models/echo/infer", request, "POST")
    assert status == 200, reply
    by_server = {tensor["name"]: tensor["datatype"] for tensor in reply["outputs"]}

    assert by_client == by_headless == by_server == EXPECTED
