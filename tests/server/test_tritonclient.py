"""tritonclient.http, with its defaults, against a model served from a real kernel.

tritonclient is synchronous (gevent); each call runs in a worker thread so that the test's
event loop, which is also the Jupyter server's, keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pytest
import tritonclient.http as triton
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tritonclient.utils import InferenceServerException

from jupyter_inferless._version import __version__
from tests.support.sse_reader import read_stream

T = TypeVar("T")

MODEL = """
import jupyter_inferless

class Mixed:
    def infer(self, inputs):
        return {
            "text": [t.upper() for t in inputs["text"]],
            "total": sum(inputs["counts"]) + inputs.get("small", 0),
            "big": inputs["big"],
            "halves": [x / 2 for x in inputs["xs"]],
            "flags": [not flag for flag in inputs["flags"]],
            "label": inputs["label"],
        }

jupyter_inferless.serve(Mixed, name="mixed", streaming=False, input_schema={
    "text": {"datatype": "STRING", "required": True, "shape": [-1]},
    "counts": {"datatype": "INT32", "required": True, "shape": [-1]},
    "big": {"datatype": "INT64", "required": True, "shape": [-1]},
    "xs": {"datatype": "FP32", "required": True, "shape": [-1]},
    "flags": {"datatype": "BOOL", "required": True, "shape": [-1]},
    "label": {"datatype": "STRING", "required": True, "shape": [1]},
    "small": {"datatype": "INT8", "required": False, "shape": [1]},
})
"""

TEXT = np.array(["héllo", "", "wörld ✓"], dtype=np.object_)
COUNTS = np.array([1, -2, 2**31 - 1], dtype=np.int32)
BIG = np.array([2**62, -(2**63)], dtype=np.int64)
XS = np.array([0.5, -3.25, 1e30], dtype=np.float32)
FLAGS = np.array([True, False, False, True], dtype=np.bool_)
LABEL = np.array([b"l\xc3\xa1bel"], dtype=np.object_)

EXPECTED = {  # what Mixed returns for the arrays above, as tritonclient decodes it
    "text": np.array(["HÉLLO".encode(), b"", "WÖRLD ✓".encode()], dtype=np.object_),
    "total": np.array([2**31 - 2], dtype=np.int64),
    "big": BIG,
    "halves": XS.astype(np.float64) / 2,
    "flags": ~FLAGS,
    "label": LABEL,
}
DATATYPES = {
    "text": "BYTES",
    "total": "INT64",
    "big": "INT64",
    "halves": "FP64",
    "flags": "BOOL",
    "label": "BYTES",
}


@pytest.fixture
def mixed(kernel: Any, api: Any, jp_asyncio_loop: Any) -> Any:
    """A server whose kernel serves the non-streaming 'mixed' model."""

    async def serve() -> None:
        await kernel.run(MODEL)
        await api.wait_for_model("mixed")

    jp_asyncio_loop.run_until_complete(serve())
    return api


def inputs(binary: bool = True, **changed: np.ndarray) -> list[triton.InferInput]:
    """The model's inputs as tritonclient builds them from numpy arrays."""
    arrays = {
        "text": TEXT,
        "counts": COUNTS,
        "big": BIG,
        "xs": XS,
        "flags": FLAGS,
        "label": LABEL,
        **changed,
    }
    built = []
    for name, array in arrays.items():
        datatype = "BYTES" if array.dtype == np.object_ else triton.np_to_triton_dtype(array.dtype)
        tensor = triton.InferInput(name, list(array.shape), datatype)
        built.append(tensor.set_data_from_numpy(array, binary_data=binary))
    return built


async def call(api: Any, use: Callable[[triton.InferenceServerClient, dict[str, str]], T]) -> T:
    """Run ``use(client, auth_headers)`` with a fresh client, in a worker thread."""
    url = api.url("inferless").removeprefix("http://")

    def run() -> T:
        client = triton.InferenceServerClient(url)
        try:
            return use(client, dict(api.auth))
        finally:
            client.close()

    return await asyncio.to_thread(run)


def check_outputs(result: triton.InferResult, names: list[str], binary: bool) -> None:
    """The response holds exactly ``names``, binary or JSON, with the model's values."""
    outputs = result.get_response()["outputs"]
    assert [output["name"] for output in outputs] == names
    for output in outputs:
        name = output["name"]
        assert output["datatype"] == DATATYPES[name]
        if binary:
            assert "data" not in output
            assert output["parameters"]["binary_data_size"] > 0
        else:
            assert "data" in output and "parameters" not in output
        expected = EXPECTED[name]
        if not binary and output["datatype"] == "BYTES":  # JSON carries text, not bytes
            expected = np.array([item.decode() for item in expected], dtype=np.object_)
        got = result.as_numpy(name)
        assert got.shape == expected.shape, name
        np.testing.assert_array_equal(got, expected, err_msg=name)


async def test_binary_tensors_in_and_out_with_the_defaults(mixed: Any) -> None:
    """set_data_from_numpy and InferRequestedOutput default to binary data, both ways."""
    names = ["label", "halves", "text", "flags", "big", "total"]

    def infer(client: triton.InferenceServerClient, auth: dict[str, str]) -> Any:
        outputs = [triton.InferRequestedOutput(name) for name in names]
        return client.infer("mixed", inputs(), outputs=outputs, request_id="r7", headers=auth)

    result = await call(mixed, infer)
    check_outputs(result, names, binary=True)
    assert result.get_response()["id"] == "r7"
    assert result.get_response()["model_name"] == "mixed"


async def test_all_outputs_come_back_binary_when_none_are_named(mixed: Any) -> None:
    """outputs=None asks for every output, as binary (parameters.binary_data_output)."""
    result = await call(mixed, lambda client, auth: client.infer("mixed", inputs(), headers=auth))
    check_outputs(result, ["text", "total", "big", "halves", "flags", "label"], binary=True)


async def test_json_tensors_still_work(mixed: Any) -> None:
    """binary_data=False on the inputs and the outputs: plain v2 JSON, both ways."""

    def infer(client: triton.InferenceServerClient, auth: dict[str, str]) -> Any:
        outputs = [triton.InferRequestedOutput(n, binary_data=False) for n in ("total", "text")]
        return client.infer("mixed", inputs(binary=False), outputs=outputs, headers=auth)

    check_outputs(await call(mixed, infer), ["total", "text"], binary=False)


async def test_binary_and_json_mix_per_input_and_output(mixed: Any) -> None:
    """Some inputs binary, some JSON; one output binary, one JSON."""
    sent = inputs()
    sent[0].set_data_from_numpy(TEXT, binary_data=False)
    sent[3].set_data_from_numpy(XS, binary_data=False)

    def infer(client: triton.InferenceServerClient, auth: dict[str, str]) -> Any:
        outputs = [
            triton.InferRequestedOutput("halves", binary_data=False),
            triton.InferRequestedOutput("flags"),
        ]
        return client.infer("mixed", sent, outputs=outputs, headers=auth)

    result = await call(mixed, infer)
    halves, flags = result.get_response()["outputs"]
    assert "data" in halves and flags["parameters"] == {"binary_data_size": 4}
    np.testing.assert_array_equal(result.as_numpy("halves"), EXPECTED["halves"])
    np.testing.assert_array_equal(result.as_numpy("flags"), EXPECTED["flags"])


async def test_server_and_model_metadata_health_and_readiness(mixed: Any) -> None:
    def ask(client: triton.InferenceServerClient, auth: dict[str, str]) -> dict[str, Any]:
        return {
            "server": client.get_server_metadata(headers=auth),
            "live": client.is_server_live(headers=auth),
            "ready": client.is_server_ready(headers=auth),
            "model": client.get_model_metadata("mixed", headers=auth),
            "versioned": client.get_model_metadata("mixed", "1", headers=auth),
            "model_ready": client.is_model_ready("mixed", headers=auth),
            "unknown_ready": client.is_model_ready("nope", headers=auth),
            "live_without_auth": client.is_server_live(),
        }

    answers = await call(mixed, ask)
    assert answers["server"] == {
        "name": "jupyter_inferless",
        "version": __version__,
        "extensions": ["binary_tensor_data", "generate"],
    }
    assert answers["live"] is True and answers["ready"] is True
    assert answers["model_ready"] is True and answers["unknown_ready"] is False
    assert answers["live_without_auth"] is False
    model = answers["model"]
    assert answers["versioned"] == model
    assert model["name"] == "mixed"
    assert {spec["name"]: spec["datatype"] for spec in model["inputs"]} == {
        "text": "STRING",
        "counts": "INT32",
        "big": "INT64",
        "xs": "FP32",
        "flags": "BOOL",
        "label": "STRING",
        "small": "INT8",
    }


def refused(
    use: Callable[[triton.InferenceServerClient, dict[str, str]], Any],
) -> Callable[..., Any]:
    """``use``, returning the InferenceServerException it raises (failing if none)."""

    def run(client: triton.InferenceServerClient, auth: dict[str, str]) -> Any:
        with pytest.raises(InferenceServerException) as caught:
            use(client, auth)
        return caught.value

    return run


@pytest.mark.parametrize(
    ("use", "status", "says"),
    [
        pytest.param(
            lambda c, a: c.infer("mixed", inputs(small=np.array([300], np.int32)), headers=a),
            "400",
            "input 'small' (INT8): 300 is out of range",
            id="out-of-range-binary-value",
        ),
        pytest.param(
            lambda c, a: c.infer("mixed", inputs(xs=np.array([np.nan], np.float32)), headers=a),
            "400",
            "input 'xs' (FP32): expected a finite number",
            id="nan-binary-value",
        ),
        pytest.param(
            lambda c, a: c.infer("mixed", inputs(extra=np.array([1], np.int64)), headers=a),
            "400",
            "unknown input 'extra'",
            id="unknown-input",
        ),
        pytest.param(
            lambda c, a: c.infer(
                "mixed", inputs(), outputs=[triton.InferRequestedOutput("nope")], headers=a
            ),
            "400",
            "unknown output 'nope'; the model returned: 'text', 'total'",
            id="unknown-output",
        ),
        pytest.param(
            lambda c, a: c.infer("nope", inputs(), headers=a),
            "404",
            "'nope'",
            id="unknown-model",
        ),
        pytest.param(
            lambda c, a: c.infer("mixed", inputs()),
            "403",
            "",
            id="no-credentials",
        ),
        pytest.param(
            lambda c, a: c.get_model_config("mixed", headers=a),
            "404",
            "no endpoint GET /a%40b/inferless/v2/models/mixed/config",
            id="unsupported-endpoint",
        ),
    ],
)
async def test_refusals_reach_the_client_with_the_servers_message(
    mixed: Any, use: Callable[..., Any], status: str, says: str
) -> None:
    error = await call(mixed, refused(use))
    assert error.status() == status, error
    assert says in error.message(), error


@pytest.mark.parametrize("jp_base_url", ["/"])
async def test_a_server_at_the_root_url(mixed: Any, jp_base_url: str, jp_http_port: int) -> None:
    """The same client works when the server's base_url is /, not /a%40b/."""
    assert mixed.url("inferless") == f"http://127.0.0.1:{jp_http_port}/inferless"

    def use(client: triton.InferenceServerClient, auth: dict[str, str]) -> Any:
        assert client.get_server_metadata(headers=auth)["name"] == "jupyter_inferless"
        assert client.is_model_ready("mixed", headers=auth)
        return client.infer("mixed", inputs(), headers=auth)

    check_outputs(
        await call(mixed, use), ["text", "total", "big", "halves", "flags", "label"], binary=True
    )


# -- the wire, without tritonclient --------------------------------------------------------


async def post_raw(
    api: Any, body: bytes, header_length: str | None
) -> tuple[int, dict[str, str], bytes]:
    """POST a body to mixed's infer endpoint; (status, headers, body)."""
    headers = dict(api.auth)
    if header_length is not None:
        headers["Inference-Header-Content-Length"] = header_length
    request = HTTPRequest(
        api.url("inferless/v2/models/mixed/infer"), method="POST", body=body, headers=headers
    )
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    return response.code, dict(response.headers.get_all()), response.body


async def test_the_binary_response_is_framed_as_triton_frames_it(mixed: Any) -> None:
    header = {
        "inputs": [
            {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]},
            {"name": "counts", "datatype": "INT32", "shape": [2],
             "parameters": {"binary_data_size": 8}},
            {"name": "big", "datatype": "INT64", "shape": [0], "data": []},
            {"name": "xs", "datatype": "FP32", "shape": [0], "data": []},
            {"name": "flags", "datatype": "BOOL", "shape": [0], "data": []},
            {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["x"]},
        ],
        "outputs": [{"name": "total", "parameters": {"binary_data": True}}],
    }  # fmt: skip
    text = json.dumps(header).encode()
    status, headers, body = await post_raw(mixed, text + struct.pack("<2i", 40, 2), str(len(text)))
    assert status == 200, body
    assert headers["Content-Type"] == "application/octet-stream"
    length = int(headers["Inference-Header-Content-Length"])
    reply = json.loads(body[:length])
    assert reply["outputs"] == [
        {"name": "total", "datatype": "INT64", "shape": [1], "parameters": {"binary_data_size": 8}}
    ]
    assert body[length:] == struct.pack("<q", 42)


COUNTS_HEADER = (
    b'{"inputs": [{"name": "counts", "datatype": "%s", "shape": [1], "parameters": {%s}}]}'
)


@pytest.mark.parametrize(
    ("header", "tail", "header_length", "says"),
    [
        (b'{"inputs": []}', b"", "99", "Inference-Header-Content-Length is 99 but the body has "),
        (b'{"inputs": []}', b"", "ten", "Inference-Header-Content-Length must be a byte count"),
        (
            COUNTS_HEADER % (b"INT32", b'"binary_data_size": 4'),
            b"\x01\x00\x00\x00\x02",
            "auto",
            "5 bytes follow the JSON header, but the inputs' binary_data_size add up to 4",
        ),
        (
            COUNTS_HEADER % (b"INT32", b'"binary_data_size": 4'),
            b"",
            None,
            "input 'counts': parameters.binary_data_size is set, but the request has no",
        ),
        (
            COUNTS_HEADER % (b"INT32", b'"binary_data_size": 4'),
            b"\x01\x00",
            "auto",
            "input 'counts': binary_data_size is 4, but only 2 bytes are left",
        ),
        (
            COUNTS_HEADER % (b"INT32", b""),
            b"",
            "auto",
            "input 'counts': the tensor has no \"data\"",
        ),
        (
            COUNTS_HEADER % (b"INT24", b'"binary_data_size": 3'),
            b"\x01\x00\x00",
            "auto",
            "input 'counts': datatype 'INT24' cannot carry binary data",
        ),
        (
            COUNTS_HEADER % (b"INT64", b'"binary_data_size": 8'),
            struct.pack("<q", 2**40),
            "auto",
            "input 'counts' (INT32): 1099511627776 is out of range for INT32",
        ),
    ],
)
async def test_bad_binary_framing_is_a_400_naming_what_is_wrong(
    mixed: Any, header: bytes, tail: bytes, header_length: str | None, says: str
) -> None:
    length = str(len(header)) if header_length == "auto" else header_length
    status, headers, reply = await post_raw(mixed, header + tail, length)
    assert status == 400, reply
    assert headers["Content-Type"].startswith("application/json")
    assert says in json.loads(reply)["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "inferless/v2/nope"),
        ("GET", "inferless/v2/models/mixed/nope"),
        ("POST", "inferless/v2/models/mixed/versions/1/nope"),
        ("GET", "inferless/v2/health/dead"),
        ("GET", "inferless/api/nope"),
        ("DELETE", "inferless/api/models/mixed"),
        ("PUT", "inferless/v2/nope"),
        ("GET", "inferless/"),
        ("GET", "inferless"),
        ("HEAD", "inferless/v2/nope"),
    ],
)
async def test_unknown_paths_are_json_404s(mixed: Any, method: str, path: str) -> None:
    body = b"{}" if method in ("POST", "PUT") else None
    result = await read_stream(mixed.url(path), method=method, body=body, headers=mixed.auth)
    assert result.status == 404, result.body
    assert result.headers["Content-Type"].startswith("application/json")
    if method == "HEAD":
        return  # no body
    assert json.loads(result.body)["error"].startswith(f"no endpoint {method} /a%40b/inferless")
