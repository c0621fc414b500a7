"""GET inferless/api/openapi.json: a valid OpenAPI 3.1 document of the served models."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.support.models import CHAT, COUNTER, TENSOR
from tests.support.sse_reader import read_stream

DOCUMENT = "inferless/api/openapi.json"
MODELS = "/inferless/v2/models/"


@pytest.fixture
def served(serving):
    """A streaming model (STRING, INT8, INT64, BOOL) and a non-streaming one."""
    serving(CHAT.serve("chat"), "chat")
    return serving(TENSOR.serve("tensor"), "tensor")


async def document(api) -> dict[str, Any]:
    """The document, checked valid."""
    status, doc = await api.call(DOCUMENT)
    assert status == 200, doc
    validate(doc)
    return doc


def body_schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """The JSON body schema a model's generate_stream POST refers to, resolved."""
    body = doc["paths"][f"{MODELS}{name}/generate_stream"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


async def test_the_document_is_valid_and_holds_each_models_inputs(served, jp_base_url):
    doc = await document(served)
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"][0]["url"] == jp_base_url.rstrip("/")
    assert {"token", "bearer", "tokenQuery"} <= set(doc["components"]["securitySchemes"])

    flat, parameters, tensors = body_schema(doc, "chat")["anyOf"]
    inputs = flat["properties"]
    assert flat["required"] == ["prompt"] and flat["additionalProperties"] is False
    assert inputs["prompt"]["anyOf"][0] == {"type": "string"}
    assert inputs["n"]["anyOf"][0] == {"type": "integer", "minimum": -128, "maximum": 127}
    assert inputs["big"]["anyOf"][0]["maximum"] == 2**63 - 1
    assert inputs["flag"]["anyOf"][0] == {"type": "boolean"}
    assert inputs["n"]["anyOf"][1]["maxItems"] == 1  # shape [1]: a value or a one-value list
    assert parameters["required"] == ["parameters"]
    assert tensors["required"] == ["inputs"]

    (tensor_flat, *_) = body_schema(doc, "tensor")["anyOf"]
    x, grid = tensor_flat["properties"]["x"], tensor_flat["properties"]["grid"]
    assert x["anyOf"][1] == {
        "type": "array",
        "items": {"type": "number", "minimum": -65504.0, "maximum": 65504.0},
    }
    flat_grid, nested_grid = grid["anyOf"]  # [2, 2]: four values, or two rows of two
    assert flat_grid["minItems"] == flat_grid["maxItems"] == 4
    assert flat_grid["items"] == {"type": "integer", "minimum": 0, "maximum": 255}
    assert nested_grid["maxItems"] == nested_grid["items"]["maxItems"] == 2

    stream = doc["paths"][f"{MODELS}chat/generate_stream"]
    assert set(stream) >= {"get", "post"}
    query = {p["name"]: p for p in stream["get"]["parameters"] if "name" in p}
    assert query["n"]["schema"] == {"type": "integer", "minimum": -128, "maximum": 127}
    assert query["prompt"]["required"] is True and query["flag"]["required"] is False
    answered = stream["post"]["responses"]
    assert "text/event-stream" in answered["200"]["content"]
    assert {"200", "204", "400", "403", "404", "410", "413", "429", "503"} <= set(answered)
    assert "409" not in answered  # a name several kernels serve is one model with replicas
    busy = doc["components"]["responses"]["Busy"]
    assert busy["headers"]["Retry-After"]["required"] is True

    assert f"{MODELS}tensor/infer" in doc["paths"] and f"{MODELS}tensor/generate" in doc["paths"]
    infer = doc["paths"][f"{MODELS}tensor/infer"]["post"]["requestBody"]
    assert infer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/tensors.tensor"
    }
    tensors = {"inputs": [{"name": "prompt", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]}
    for verb, body in (("infer", tensors), ("generate", {"prompt": "hi"})):
        assert f"{MODELS}chat/{verb}" not in doc["paths"]  # a streaming model's: always 400
        status, reply = await served.call(f"{MODELS.lstrip('/')}chat/{verb}", body, "POST")
        assert status == 400 and "generate_stream" in reply["error"]
    assert f"{MODELS}chat/versions/{{version}}/generate_stream" in doc["paths"]


async def test_what_the_document_accepts_the_server_accepts(served):
    doc = await document(served)
    body = Draft202012Validator(body_schema(doc, "chat"))
    path = "inferless/v2/models/chat/generate_stream"
    good = [
        {"prompt": "hi", "n": 2, "flag": True},
        {"prompt": ["hi"], "big": 2**40},
        {"parameters": {"prompt": "hi", "n": 1}},
        {"inputs": [{"name": "prompt", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]},
    ]
    for sent in good:
        assert body.is_valid(sent), sent
        result = await served.stream(path, sent)
        assert result.status == 200 and result.outputs, (sent, result.body)
    bad = [{"prompt": "hi", "n": 128}, {"n": 1}, {"prompt": "hi", "other": 1}, {"prompt": 5}]
    for sent in bad:
        assert not body.is_valid(sent), sent
        status, error = await served.call(path, sent, method="POST")
        assert (status, set(error), error["kind"]) == (400, {"error", "kind"}, "input_error")


async def test_the_document_follows_serve_and_stop(kernel, api):
    doc = await document(api)
    assert not [path for path in doc["paths"] if path.startswith(MODELS)]
    await kernel.run(COUNTER.serve("counted"))
    await api.wait_for_model("counted")
    doc = await document(api)
    assert f"{MODELS}counted/generate_stream" in doc["paths"]
    assert "inputs.counted" in doc["components"]["schemas"]
    await kernel.run("jupyter_inferless.stop('counted')")
    await api.wait_for_model("counted", present=False)
    doc = await document(api)
    assert not [path for path in doc["paths"] if path.startswith(MODELS)]
    assert "inputs.counted" not in doc["components"]["schemas"]


async def test_the_document_needs_authentication(api):
    status, body = await api.call(DOCUMENT, auth=False)
    assert (status, set(body), body["kind"]) == (403, {"error", "kind"}, "forbidden")


async def test_a_method_a_route_lacks_is_405_with_allow(api):
    result = await read_stream(api.url(DOCUMENT), method="PUT", body=b"{}", headers=api.auth)
    assert result.status == 405, result.body
    assert result.headers["Allow"] == "GET, OPTIONS"
    assert result.headers["Content-Type"].startswith("application/json")
