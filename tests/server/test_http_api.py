"""The v2/Triton HTTP surface: metadata, infer, generate, validation, authentication."""

from __future__ import annotations

import json

import pytest

from jupyter_inferless.protocol import ErrorKind
from tests.support.sse_reader import read_stream

SCHEMA_MODEL = """
INPUT_SCHEMA = {
    "prompt": {"datatype": "STRING", "required": True, "shape": [1], "example": ["hi"]},
    "count": {"datatype": "INT8", "required": False, "shape": [1], "example": [2]},
    "shout": {"datatype": "BOOL", "required": False, "shape": [1]},
}
IS_STREAMING_OUTPUT = True

class Echo:
    def infer(self, inputs, stream_output_handler):
        text = inputs["prompt"].upper() if inputs.get("shout") else inputs["prompt"]
        for _ in range(inputs.get("count", 1)):
            stream_output_handler.send_streamed_output({"OUT": text})
        stream_output_handler.finalise_streamed_output()

%inferless serve Echo --name echo
"""

ADDER = """
import jupyter_inferless

class Adder:
    def initialize(self):
        self.offset = 0.5
    def infer(self, inputs):
        values = inputs["values"]
        return {"total": sum(values) + self.offset, "count": len(values), "label": inputs["label"]}

jupyter_inferless.serve(
    Adder,
    name="adder",
    input_schema={
        "values": {"datatype": "FP32", "required": True, "shape": [-1]},
        "label": {"datatype": "STRING", "required": True, "shape": [1]},
    },
)
"""

STREAM = "inferless/v2/models/echo/generate_stream"


@pytest.fixture
def echo(kernel, api, jp_asyncio_loop):
    """A server whose kernel serves the Echo model."""

    async def serve():
        await kernel.run(SCHEMA_MODEL)
        await api.wait_for_model("echo")

    jp_asyncio_loop.run_until_complete(serve())
    return api


async def test_metadata_matches_input_schema(echo):
    status, body = await echo.call("inferless/v2/models/echo")
    assert status == 200
    assert body["name"] == "echo"
    assert body["inputs"] == [
        {"name": "prompt", "datatype": "STRING", "shape": [1]},
        {"name": "count", "datatype": "INT8", "shape": [1]},
        {"name": "shout", "datatype": "BOOL", "shape": [1]},
    ]
    assert body["parameters"] == {"streaming": True}
    status, versioned = await echo.call("inferless/v2/models/echo/versions/1")
    assert (status, versioned) == (200, body)
    status, listing = await echo.call("inferless/api/models")
    (model,) = listing["models"]
    assert model["schema"]["inputs"][0] == {
        "name": "prompt",
        "datatype": "STRING",
        "shape": [1],
        "required": True,
        "example": ["hi"],
    }


async def test_health_and_ready(echo):
    assert await echo.call("inferless/v2/health/live") == (200, {"live": True})
    assert await echo.call("inferless/v2/health/ready") == (200, {"ready": True})
    assert (await echo.call("inferless/v2/models/echo/ready"))[0] == 200
    assert (await echo.call("inferless/v2/models/echo/versions/1/ready"))[0] == 200


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "prompt"),  # required input missing
        ({"prompt": 5}, "prompt"),  # wrong type
        ({"prompt": None}, "prompt"),  # null
        ({"prompt": ["a", "b"]}, "prompt"),  # shape [1] given two values
        ({"prompt": "x", "count": 300}, "count"),  # out of INT8 range
        ({"prompt": "x", "count": 1.5}, "count"),  # not an integer
        ({"prompt": "x", "count": True}, "count"),  # a boolean is not an integer
        ({"prompt": "x", "shout": "yes"}, "shout"),  # not a boolean
        ({"prompt": "x", "colour": "red"}, "colour"),  # unknown input
        ({"parameters": {"prompt": "x"}, "prompt": "y"}, "prompt"),  # given twice
        ({"inputs": [{"name": "prompt", "datatype": "FP32", "data": [1.0]}]}, "prompt"),
        ({"inputs": [{"name": "prompt", "shape": [2], "data": ["a"]}]}, "prompt"),
    ],
)
async def test_every_validation_rule_is_a_400_naming_the_input(echo, body, named):
    status, reply = await echo.call(STREAM, body, method="POST")
    assert status == 400, reply
    assert f"'{named}'" in reply["error"] and reply["kind"] == "input_error"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"prompt": "x"', "not valid JSON"),
        (b'{"prompt": NaN}', "NaN"),
        (b"\xff\xfe", "not UTF-8"),
        (b'["prompt"]', "JSON object"),
        (b'{"parameters": 3}', "parameters"),
    ],
)
async def test_malformed_bodies_are_400_json(echo, raw, says):
    status, reply = await echo.call(STREAM, raw, method="POST")
    assert status == 400
    assert says in reply["error"] and reply["kind"] in ("bad_request", "input_error")


async def test_get_form_coerces_query_values_by_schema(echo):
    token = echo.auth["Authorization"].split()[-1]
    url = echo.url(f"{STREAM}?prompt=hey&count=2&shout=true&token={token}")
    result = await read_stream(url, method="GET")
    assert result.outputs == [{"OUT": "HEY"}, {"OUT": "HEY"}]
    bad = await read_stream(echo.url(f"{STREAM}?prompt=x&count=many&token={token}"), method="GET")
    assert bad.status == 400
    assert "'count'" in bad.body.decode()


async def test_unknown_and_invalid_model_names(echo):
    status, reply = await echo.call("inferless/v2/models/nope/generate_stream", {}, method="POST")
    assert (status, reply["kind"]) == (404, "model_not_found")
    assert "'nope'" in reply["error"] and "echo" in reply["error"]
    status, reply = await echo.call("inferless/v2/models/-bad!/generate_stream", {}, method="POST")
    assert (status, reply["kind"]) == (400, "bad_request")
    assert "invalid model name" in reply["error"]


async def test_streaming_model_refuses_one_shot_endpoints(echo):
    status, reply = await echo.call(
        "inferless/v2/models/echo/generate", {"prompt": "x"}, method="POST"
    )
    assert (status, reply["kind"]) == (400, "model_streams")
    assert "generate_stream" in reply["error"]


async def test_v2_infer_on_a_non_streaming_model(kernel, api):
    await kernel.run(ADDER)
    await api.wait_for_model("adder")
    request = {
        "id": "req-1",
        "inputs": [
            {"name": "values", "shape": [3], "datatype": "FP32", "data": [1, 2, 3.5]},
            {"name": "label", "shape": [1], "datatype": "BYTES", "data": ["sum"]},
        ],
    }
    status, reply = await api.call("inferless/v2/models/adder/infer", request, method="POST")
    assert status == 200, reply
    assert reply["model_name"] == "adder"
    assert reply["id"] == "req-1"
    assert reply["outputs"] == [
        {"name": "total", "datatype": "FP64", "shape": [1], "data": [7.0]},
        {"name": "count", "datatype": "INT64", "shape": [1], "data": [3]},
        {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["sum"]},
    ]
    status, reply = await api.call(
        "inferless/v2/models/adder/generate", {"values": [1, 1], "label": "two"}, method="POST"
    )
    assert status == 200
    assert reply["total"] == 2.5 and reply["label"] == "two"
    stream = await api.stream(
        "inferless/v2/models/adder/generate_stream", {"values": [2], "label": "x"}
    )
    assert stream.outputs == [{"total": 2.5, "count": 1, "label": "x"}]


ENDPOINTS = [
    ("GET", "inferless/v2/health/live"),
    ("GET", "inferless/v2/health/ready"),
    ("GET", "inferless/api/models"),
    ("GET", "inferless/v2/models/echo"),
    ("GET", "inferless/v2/models/echo/versions/1"),
    ("GET", "inferless/v2/models/echo/ready"),
    ("POST", "inferless/v2/models/echo/infer"),
    ("POST", "inferless/v2/models/echo/generate"),
    ("POST", "inferless/v2/models/echo/generate_stream"),
    ("GET", "inferless/v2/models/echo/generate_stream?prompt=x"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_every_endpoint_refuses_a_request_without_auth(echo, method, path):
    result = await read_stream(
        echo.url(path), method=method, body=b'{"prompt": "x"}' if method == "POST" else None
    )
    assert result.status == 403
    assert not result.events
    if method != "GET" or "?" not in path:  # a JSON body, except for the EventSource form
        assert json.loads(result.body)["kind"] == "forbidden"


@pytest.mark.parametrize("scheme", ["token", "Bearer"])
async def test_token_and_bearer_headers_are_accepted(echo, scheme):
    token = echo.auth["Authorization"].split()[-1]
    result = await read_stream(
        echo.url(STREAM), body={"prompt": "ok"}, headers={"Authorization": f"{scheme} {token}"}
    )
    assert result.status == 200
    assert result.outputs == [{"OUT": "ok"}]


REFUSALS = [
    # (method, path, body, status, kind): one request for each refusal the server answers
    ("POST", "inferless/v2/models/nope/generate_stream", {}, 404, "model_not_found"),
    ("POST", "inferless/v2/models/-bad!/generate_stream", {}, 400, "bad_request"),
    ("POST", STREAM, {"prompt": 5}, 400, "input_error"),
    ("POST", STREAM, b'{"prompt": "x"', 400, "bad_request"),
    ("POST", "inferless/v2/models/echo/generate", {"prompt": "x"}, 400, "model_streams"),
    ("POST", "inferless/v2/models/echo/infer", {"inputs": []}, 400, "model_streams"),
    ("GET", "inferless/api/streams/" + "0" * 32, None, 404, "not_found"),
    ("DELETE", "inferless/api/streams/" + "0" * 32, None, 404, "not_found"),
    ("GET", "inferless/no/such/endpoint", None, 404, "not_found"),
    ("PUT", STREAM, b"{}", 405, "method_not_allowed"),
    ("GET", "inferless/v2/models/nope", None, 404, "model_not_found"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "kind"), REFUSALS, ids=[f"{r[0]} {r[1]}" for r in REFUSALS]
)
async def test_every_refusal_body_has_a_kind(echo, method, path, body, status, kind):
    """``{"error": TEXT, "kind": KIND}``, KIND an ErrorKind value, and no other key."""
    answered, reply = await echo.call(path, body, method=method)
    assert (answered, reply) == (status, {"error": reply["error"], "kind": kind})
    assert isinstance(reply["error"], str) and reply["error"]
    assert ErrorKind(kind)
