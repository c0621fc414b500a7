"""A request nested too deep is refused alone, with a 400 naming the limit: never a 500,
and never the end of the requests it would have shared a kernel message with."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.support.models import TENSOR, Model
from tests.support.sse_reader import read_stream

LOOSE = Model(
    "Loose",
    '''
    class Loose:
        """No INPUT_SCHEMA: takes anything; 3 events {"i": i}."""

        def infer(self, inputs, stream_output_handler):
            for i in range(3):
                stream_output_handler.send_streamed_output({"i": i})
            stream_output_handler.finalise_streamed_output()
    ''',
)
SERVE_LOOSE = LOOSE.serve("loose").replace("input_schema={}", "max_concurrency=5")  # no schema
STREAM = "inferless/v2/models/loose/generate_stream"
LIMIT = "(the server's max_input_depth is 32)"  # how every refusal of a deep request ends


def nested(depth: int, core: bytes = b"1") -> bytes:
    """A JSON array ``depth`` levels deep (built as bytes: json.dumps would recurse)."""
    return b"[" * depth + core + b"]" * depth


async def _post(api: Any, path: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return await read_stream(api.url(path), body=body, headers={**api.auth, **(headers or {})})


async def test_requests_nested_976_and_900_deep_are_refused_alone_in_a_burst(kernel, api):
    await kernel.run(SERVE_LOOSE)
    await api.wait_for_model("loose")
    # 976 deep: where the parser gives up depends on the stack's depth; 900 always parses
    deep = [b'{"x": ' + nested(depth) + b"}" for depth in (976, 900)]
    normal = json.dumps({"x": [[1, 2], [3]], "text": "hi"}).encode()
    for _ in range(3):  # sent together, so that they share the kernel's messages
        results = await asyncio.gather(*(_post(api, STREAM, body) for body in deep + [normal] * 4))
        named = results[1]
        for result in results[:2]:
            assert result.status == 400, result.body
            assert json.loads(result.body)["error"].endswith(LIMIT), result.body
        assert json.loads(named.body)["error"].startswith("input 'x' is nested more than 32")
        for result in results[2:]:
            assert result.status == 200
            assert result.outputs == [{"i": 0}, {"i": 1}, {"i": 2}], result.outputs


DEEP_X = nested(980, b"1.5")
FORMS = [
    pytest.param("generate", b'{"label": "a", "x": ' + DEEP_X + b"}", {}, id="json-values"),
    pytest.param(
        "infer",
        b'{"inputs": [{"name": "label", "datatype": "BYTES", "shape": [1], "data": ["a"]}, '
        b'{"name": "x", "datatype": "FP16", "shape": [1], "data": ' + DEEP_X + b"}]}",
        {},
        id="v2-tensors",
    ),
    pytest.param(
        "infer",
        b'{"inputs": [{"name": "label", "datatype": "BYTES", "shape": [1], '
        b'"parameters": {"binary_data_size": 5}}, '
        b'{"name": "x", "datatype": "FP16", "shape": [1], "data": ' + DEEP_X + b"}]}"
        b"\x01\x00\x00\x00a",
        {"binary": True},
        id="binary-tensors",
    ),
]


@pytest.mark.parametrize(("verb", "body", "form"), FORMS)
async def test_a_declared_list_input_nested_980_deep_is_400_not_500(
    kernel, api, verb: str, body: bytes, form: dict[str, bool]
):
    await kernel.run(TENSOR.serve("tensor"))
    await api.wait_for_model("tensor")
    headers = {}
    if form:
        headers["Inference-Header-Content-Length"] = str(len(body) - 5)
    result = await _post(api, f"inferless/v2/models/tensor/{verb}", body, headers)
    assert result.status == 400, result.body
    assert json.loads(result.body)["error"].endswith(LIMIT), result.body
    fine = await api.call("inferless/v2/models/tensor/generate", {"label": "a", "x": [1, 2]},
                          "POST")  # fmt: skip
    assert fine == (200, {"model_name": "tensor", "model_version": "1", "count": 2, "grid": [],
                          "label": "a"})  # fmt: skip


async def test_just_past_the_limit_the_input_is_named_and_at_it_the_request_runs(kernel, api):
    await kernel.run(SERVE_LOOSE + TENSOR.serve("tensor"))
    await api.wait_for_model("loose")
    at_limit = await _post(api, STREAM, b'{"x": ' + nested(32) + b"}")
    assert (at_limit.status, at_limit.outputs) == (200, [{"i": 0}, {"i": 1}, {"i": 2}])
    for path, body in [
        (STREAM, b'{"x": ' + nested(33) + b"}"),
        (STREAM, b'{"parameters": {"x": ' + nested(64) + b"}}"),
        (STREAM, b'{"inputs": [{"name": "x", "data": ' + nested(33) + b"}]}"),
        ("inferless/v2/models/tensor/infer", b'{"inputs": [{"name": "x", "datatype": "FP16", '
         b'"data": ' + nested(33) + b'}, {"name": "label", "data": ["a"]}]}'),
    ]:  # fmt: skip
        result = await _post(api, path, body)
        assert result.status == 400, result.body
        assert json.loads(result.body)["error"] == (
            "input 'x' is nested more than 32 levels deep (the server's max_input_depth is 32)"
        )
