"""Bodies over decode_inline_bytes are read off the loop, by the decode threads or the
decode processes: answered, and refused, exactly as small ones are (here the threshold is
1 KiB, so a few hundred values cross it)."""

from __future__ import annotations

import gc
import json
import random
import struct
import textwrap
import threading
from typing import Any

import pytest

from tests.support.models import CHAT, SIZER
from tests.support.server_config import server_config

INLINE = 1024
KEYS = '''
class Keys:
    """No schema, not streaming: the inputs' names and the JSON of each value's type."""

    def infer(self, inputs):
        return {"keys": sorted(inputs), "types": [type(v).__name__ for v in inputs.values()]}
'''
MODELS = (
    SIZER.serve("big")
    + CHAT.serve("chat")
    + textwrap.dedent(KEYS)
    + 'jupyter_inferless.serve(Keys, name="keys", streaming=False)\n'
)
INFER = "inferless/v2/models/big/infer"
RANDOM = random.Random(3)
VALUES = [RANDOM.randint(-128, 127) for _ in range(20_000)]


@pytest.fixture(params=["thread", "process"])
def jp_server_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Bodies over 1 KiB are read off the loop: all by the decode threads, or from 16 KiB
    on by a decode process."""
    if request.param == "thread":
        return server_config(decode_inline_bytes=INLINE, decode_processes=0)
    return server_config(decode_inline_bytes=INLINE, decode_process_bytes=16 * INLINE)


@pytest.fixture
def served(serving):
    """big (Sizer: x INT8[-1], answers n and sum), chat (streams its prompt), keys (no
    schema, not streaming)."""
    return serving(MODELS, "big", "chat", "keys")


def decode_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("inferless-decode")]


def v2(values: list[Any], **extra: Any) -> dict[str, Any]:
    tensor = {"name": "x", "datatype": "INT8", "shape": [len(values)], "data": values}
    return {"inputs": [tensor], **extra}


def outputs(reply: dict[str, Any]) -> dict[str, Any]:
    return {tensor["name"]: tensor["data"] for tensor in reply["outputs"]}


async def test_small_bodies_stay_on_the_loop_and_large_ones_are_read_by_a_decode_thread(served):
    status, reply = await served.call(INFER, v2(VALUES[:10], id="small"), method="POST")
    assert status == 200 and outputs(reply) == {"n": [10], "sum": [sum(VALUES[:10])]}
    assert decode_threads() == [], "a small body costs no thread"
    status, reply = await served.call(INFER, v2(VALUES, id="large"), method="POST")
    assert status == 200, reply
    assert outputs(reply) == {"n": [len(VALUES)], "sum": [sum(VALUES)]}
    assert reply["id"] == "large"
    assert decode_threads(), "a large body is read by a decode thread"
    assert gc.isenabled()


async def test_a_large_binary_request_is_read_and_answered_in_binary(served):
    raw = struct.pack(f"<{len(VALUES)}b", *VALUES)
    tensor = {"name": "x", "datatype": "INT8", "shape": [len(VALUES)]}
    tensor["parameters"] = {"binary_data_size": len(raw)}
    header = json.dumps(
        {"id": "b", "inputs": [tensor], "parameters": {"binary_data_output": True}}
    ).encode()
    result = await served.stream(
        INFER, header + raw, headers={"Inference-Header-Content-Length": str(len(header))}
    )
    assert result.status == 200, result.body
    length = int(result.headers["Inference-Header-Content-Length"])
    reply = json.loads(result.body[:length])
    assert reply["id"] == "b" and [o["name"] for o in reply["outputs"]] == ["n", "sum"]
    assert struct.unpack("<2q", result.body[length:]) == (len(VALUES), sum(VALUES))


async def test_a_large_stream_request_and_a_large_generate_request(served):
    prompt = "p" * (4 * INLINE)
    result = await served.stream("inferless/v2/models/chat/generate_stream", {"prompt": prompt})
    assert result.status == 200 and result.outputs == [{"OUT": prompt, "i": 0}]
    body = {"parameters": {"a": list(range(1000)), "b": "\U0001f600" * 500}}
    status, reply = await served.call("inferless/v2/models/keys/generate", body, method="POST")
    assert status == 200, reply
    assert (reply["keys"], reply["types"]) == (["a", "b"], ["list", "str"])


def too_big(values: list[Any]) -> bytes:
    return json.dumps(v2(values)).encode()


BAD_JSON = too_big(VALUES)[:-2]
BAD_UTF8 = too_big(VALUES).replace(b'"x"', b'"\xff"', 1)


@pytest.mark.parametrize(
    ("path", "raw", "status", "says"),
    [
        (INFER, too_big([*VALUES, 128]), 400, "input 'x' (INT8): 128 is out of range for INT8"),
        (INFER, too_big([*VALUES, 1.5]), 400, "input 'x' (INT8): expected an integer, got 1.5"),
        (INFER, BAD_JSON, 400, "the body is not valid JSON: Expecting ',' delimiter: line 1"),
        (INFER, too_big(VALUES).replace(b"[-", b"[NaN, -", 1), 400, "NaN is not valid JSON"),
        (INFER, BAD_UTF8, 400, "the body is not UTF-8 (invalid start byte at byte 22)"),
        ("inferless/v2/models/nope/infer", too_big(VALUES), 404, "'nope'"),
        ("inferless/v2/models/chat/infer", too_big(VALUES), 400, "streams its output"),
        (
            "inferless/v2/models/keys/generate",
            json.dumps({"a": VALUES, "b": "\ud800"}).encode(),
            400,
            "input 'b': a lone surrogate (U+D800)",
        ),
        (
            "inferless/v2/models/chat/generate_stream",
            json.dumps({"prompt": "p" * 4096, "n": 1e400}).replace("Infinity", "1e400").encode(),
            400,
            "input 'n' (INT8): expected an integer",
        ),
    ],
)
async def test_large_bodies_are_refused_as_small_ones_are(served, path, raw, status, says):
    assert len(raw) > INLINE
    got, reply = await served.call(path, raw, method="POST")
    assert got == status, reply
    assert says in reply["error"], reply
    if "JSON:" in says:  # the same position json.loads names
        try:
            json.loads(raw)
        except ValueError as err:
            assert reply["error"] == f"the body is not valid JSON: {err}"
    assert gc.isenabled()
