"""Triton binary tensor framing: bytes to values, values to bytes, every framing error."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest

from jupyter_inferless.contract import InputError, decode_body, parse_input_schema
from jupyter_inferless.server.decode.binary_tensors import (
    OutputRequest,
    build_response,
    inline_inputs,
    parse_output_request,
    split_body,
)
from jupyter_inferless.server.decode.tensor_codec import decode, encode
from jupyter_inferless.server.errors import TensorRequestError


def strings(*items: bytes) -> bytes:
    """BYTES elements as Triton frames them: 4-byte little-endian length, then the bytes."""
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def request(*inputs: tuple[str, str, list[int], bytes], **extra: Any) -> tuple[bytes, bytes]:
    """A binary request: its JSON header, and the body (the header, then each input's bytes)."""
    header = {
        "inputs": [
            {"name": name, "datatype": datatype, "shape": shape,
             "parameters": {"binary_data_size": len(raw)}}
            for name, datatype, shape, raw in inputs
        ],
        **extra,
    }  # fmt: skip
    text = json.dumps(header).encode()
    return text, text + b"".join(raw for *_, raw in inputs)


DECODED = [
    ("BOOL", b"\x01\x00\x01", [True, False, True]),
    ("INT8", struct.pack("<3b", -128, 0, 127), [-128, 0, 127]),
    ("INT16", struct.pack("<2h", -32768, 7), [-32768, 7]),
    ("INT32", struct.pack("<2i", -(2**31), 2**31 - 1), [-(2**31), 2**31 - 1]),
    ("INT64", struct.pack("<2q", -(2**63), 2**40), [-(2**63), 2**40]),
    ("UINT8", bytes([0, 255]), [0, 255]),
    ("UINT16", struct.pack("<H", 65535), [65535]),
    ("UINT32", struct.pack("<I", 2**32 - 1), [2**32 - 1]),
    ("UINT64", struct.pack("<Q", 2**64 - 1), [2**64 - 1]),
    ("FP16", struct.pack("<2e", 1.5, -65504.0), [1.5, -65504.0]),
    ("FP32", struct.pack("<2f", 0.25, -3.0), [0.25, -3.0]),
    ("FP64", struct.pack("<d", 0.1), [0.1]),
    ("BF16", bytes.fromhex("c03f 80bf"), [1.5, -1.0]),  # 0x3FC0 = 1.5, 0xBF80 = -1.0
    ("BYTES", strings(b"hi", b"", "héllo".encode()), ["hi", "", "héllo"]),
    ("STRING", strings(b"one"), ["one"]),
    ("bytes", strings(b"lower-case label"), ["lower-case label"]),
    ("INT32", b"", []),
    ("BYTES", b"", []),
]


@pytest.mark.parametrize(("datatype", "raw", "values"), DECODED)
def test_decode_turns_raw_bytes_into_values(datatype: str, raw: bytes, values: list[Any]) -> None:
    assert decode(datatype, raw, "'x'") == values


@pytest.mark.parametrize(
    ("datatype", "raw", "says"),
    [
        ("INT32", b"\x00" * 6, "6 bytes is not a whole number of 4-byte INT32 values"),
        ("FP64", b"\x00" * 9, "9 bytes is not a whole number of 8-byte FP64 values"),
        ("BOOL", b"\x01\x02", "BOOL element 1 is byte 2, not 0 or 1"),
        ("BYTES", b"\x05\x00\x00\x00abc", "element 0 says 5 bytes, but only 3 are left"),
        ("BYTES", strings(b"ok") + b"\x01\x00", "element 1 has only 2 of the 4 bytes"),
        ("BYTES", strings(b"\xff\xfe"), "element 0 is not UTF-8 text"),
        ("COMPLEX64", b"", "datatype 'COMPLEX64' cannot carry binary data"),
        (None, b"", "datatype None cannot carry binary data"),
    ],
)
def test_decode_names_the_input_and_what_is_wrong(datatype: Any, raw: bytes, says: str) -> None:
    with pytest.raises(TensorRequestError) as caught:
        decode(datatype, raw, "'x'")
    assert str(caught.value).startswith("input 'x': ")
    assert says in str(caught.value)


def test_a_binary_request_becomes_ordinary_json_tensors() -> None:
    header, body = request(
        ("text", "BYTES", [2], strings(b"a", b"bc")),
        ("n", "INT64", [1], struct.pack("<q", 7)),
        id="r1",
    )
    parsed, binary = split_body(body, str(len(header)))
    inlined = inline_inputs(parsed, binary)
    assert inlined["id"] == "r1"
    assert [(t["name"], t["data"], t["parameters"]) for t in inlined["inputs"]] == [
        ("text", ["a", "bc"], {}),
        ("n", [7], {}),
    ]


def test_json_and_binary_inputs_mix_and_feed_the_usual_checks() -> None:
    schema = parse_input_schema(
        {
            "label": {"datatype": "STRING", "required": True, "shape": [1]},
            "xs": {"datatype": "FP32", "required": True, "shape": [-1]},
            "small": {"datatype": "INT8", "required": False, "shape": [1]},
        },
        streaming=False,
    )
    parsed = {
        "inputs": [
            {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["json"]},
            {"name": "xs", "datatype": "FP32", "shape": [2],
             "parameters": {"binary_data_size": 8}},
        ]
    }  # fmt: skip
    inlined = inline_inputs(parsed, struct.pack("<2f", 1.0, 2.5))
    assert decode_body(schema, inlined) == {"label": "json", "xs": [1.0, 2.5]}

    small = {"name": "small", "datatype": "INT32", "parameters": {"binary_data_size": 4}}
    inlined = inline_inputs(
        {"inputs": [*parsed["inputs"], small]}, struct.pack("<2fi", 1.0, 2.5, 300)
    )
    with pytest.raises(InputError, match=r"'small' \(INT8\): 300 is out of range"):
        decode_body(schema, inlined)
    wrong_shape = inline_inputs(
        {"inputs": [parsed["inputs"][0], {**parsed["inputs"][1], "shape": [3]}]},
        struct.pack("<2f", 1.0, 2.5),
    )
    with pytest.raises(InputError, match="'xs': shape \\[3\\] holds 3 values, data has 2"):
        decode_body(schema, wrong_shape)
    nan = inline_inputs(parsed, struct.pack("<2f", 1.0, math.nan))
    with pytest.raises(InputError, match=r"'xs'.*finite"):
        decode_body(schema, nan)


def _tensor(size: Any, **more: Any) -> dict[str, Any]:
    return {"name": "x", "datatype": "INT32", "shape": [1],
            "parameters": {"binary_data_size": size}, **more}  # fmt: skip


@pytest.mark.parametrize(
    ("body", "length", "says"),
    [
        (b'{"inputs": []}', "abc", "Inference-Header-Content-Length must be a byte count"),
        (b'{"inputs": []}', "-1", "must be a byte count, not '-1'"),
        (b'{"inputs": []}', "1.5", "must be a byte count"),
        (b'{"inputs": []}', "99", "is 99 but the body has only 14 bytes"),
        (b'{"inputs": []}', "5", "is not valid JSON"),
        (b'{"inputs": [], "x": NaN}', "24", "NaN is not valid JSON"),
        (b"\xff\xfe\x00\x00", "4", "the JSON header is not UTF-8"),
        (b"[" * 100000, "100000", "nested too deeply"),
    ],
)
def test_split_body_refuses_bad_framing(body: bytes, length: str, says: str) -> None:
    with pytest.raises(TensorRequestError) as caught:
        split_body(body, length)
    assert says in str(caught.value)


@pytest.mark.parametrize(
    ("parsed", "binary", "says"),
    [
        ({"inputs": [_tensor(4)]}, b"\0" * 8, "8 bytes follow the JSON header, but the inputs' "),
        ({"inputs": [_tensor(8)]}, b"\0" * 4, "input 'x': binary_data_size is 8, but only 4"),
        ({"inputs": [_tensor(4), _tensor(4)]}, b"\0" * 6, "binary_data_size is 4, but only 2"),
        ({"inputs": [_tensor(4)]}, None, "has no Inference-Header-Content-Length header"),
        ({"inputs": [_tensor(-1)]}, b"", "binary_data_size must be a byte count, not -1"),
        ({"inputs": [_tensor("4")]}, b"1234", "binary_data_size must be a byte count, not '4'"),
        ({"inputs": [_tensor(True)]}, b"1", "binary_data_size must be a byte count, not True"),
        ({"inputs": [_tensor(4, data=[1])]}, b"\0" * 4, "give either data or binary_data_size"),
        ({"inputs": [_tensor(4, datatype="FP8")]}, b"\0" * 4, "'FP8' cannot carry binary data"),
        ({"inputs": [{**_tensor(3), "name": 3}]}, b"\0" * 3, "input inputs[0]: 3 bytes"),
        ({"inputs": [], "outputs": []}, b"\0", "1 bytes follow the JSON header, but the input"),
        ({"no": "inputs"}, b"\0", "1 bytes follow the JSON header, but no inputs"),
        (
            {"inputs": [{"name": "x", "parameters": {"shared_memory_region": "r"}}]},
            b"",
            "input 'x': shared memory is not supported",
        ),
    ],
)
def test_inline_inputs_refuses_lengths_that_do_not_add_up(
    parsed: Any, binary: bytes | None, says: str
) -> None:
    with pytest.raises(TensorRequestError) as caught:
        inline_inputs(parsed, binary)
    assert says in str(caught.value)


def test_json_requests_pass_through_untouched() -> None:
    parsed = {"inputs": [{"name": "x", "data": [1], "parameters": {"note": 1}}]}
    assert inline_inputs(parsed, None) == parsed
    assert inline_inputs({"inputs": 3}, None) == {"inputs": 3}  # the handler refuses it
    assert inline_inputs([1], None) == [1]


ENCODED = [
    ("BOOL", [True, False], b"\x01\x00"),
    ("INT64", [1, -2], struct.pack("<2q", 1, -2)),
    ("INT32", [7], struct.pack("<i", 7)),
    ("UINT8", [255], b"\xff"),
    ("FP64", [0.5, 3], struct.pack("<2d", 0.5, 3.0)),
    ("FP32", [0.25], struct.pack("<f", 0.25)),
    ("FP16", [1.5], struct.pack("<e", 1.5)),
    ("BF16", [1.5, -1.0, 1.00390625], bytes.fromhex("c03f 80bf 803f")),  # ties to even
    ("BYTES", ["hi", "é"], strings(b"hi", "é".encode())),
    ("BYTES", [None, {"a": 1}, [1, 2], 3], strings(b"null", b'{"a": 1}', b"[1, 2]", b"3")),
    ("BYTES", [], b""),
]


@pytest.mark.parametrize(("datatype", "values", "raw"), ENCODED)
def test_encode_frames_values_as_triton_does(datatype: str, values: list[Any], raw: bytes) -> None:
    assert encode(datatype, values) == raw


@pytest.mark.parametrize(
    ("datatype", "values"),
    [
        ("INT64", [2**64]),  # too big for its type: sent as JSON data instead
        ("INT8", [1000]),
        ("FP32", [1e300]),
        ("FP16", [1e6]),
        ("BF16", [1e300]),
        ("INT64", ["1"]),
        ("BYTES", ["\ud800"]),  # a lone surrogate is not UTF-8
        ("COMPLEX64", [1]),
    ],
)
def test_encode_gives_none_for_values_that_do_not_fit(datatype: str, values: list[Any]) -> None:
    assert encode(datatype, values) is None


def test_numbers_round_trip_through_encode_and_decode() -> None:
    for datatype, _, values in DECODED:
        if datatype.isupper():
            assert decode(datatype, encode(datatype, values) or b"", "'x'") == values


OUTPUTS = [
    {"name": "total", "datatype": "FP64", "shape": [1], "data": [7.0]},
    {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]},
]


def test_binary_response_is_a_json_header_then_raw_bytes() -> None:
    wanted = parse_output_request({"inputs": [], "parameters": {"binary_data_output": True}})
    body, length = build_response({"model_name": "m"}, OUTPUTS, wanted)
    assert length is not None
    header = json.loads(body[:length])
    assert header == {
        "model_name": "m",
        "outputs": [
            {"name": "total", "datatype": "FP64", "shape": [1],
             "parameters": {"binary_data_size": 8}},
            {"name": "label", "datatype": "BYTES", "shape": [2],
             "parameters": {"binary_data_size": 10}},
        ],
    }  # fmt: skip
    assert body[length:] == struct.pack("<d", 7.0) + strings(b"a", b"b")


def test_requested_outputs_filter_order_and_choose_binary_per_output() -> None:
    wanted = parse_output_request(
        {"outputs": [{"name": "label", "parameters": {"binary_data": True}}, {"name": "total"}]}
    )
    assert wanted == OutputRequest(("label", "total"), {"label": True, "total": False}, False)
    body, length = build_response({}, OUTPUTS, wanted)
    assert length is not None
    header = json.loads(body[:length])
    assert [output["name"] for output in header["outputs"]] == ["label", "total"]
    assert header["outputs"][1]["data"] == [7.0]
    assert body[length:] == strings(b"a", b"b")

    only = parse_output_request({"outputs": [{"name": "total"}]})
    body, length = build_response({}, OUTPUTS, only)
    assert length is None
    assert json.loads(body) == {"outputs": [OUTPUTS[0]]}


def test_json_response_when_no_output_asks_for_binary() -> None:
    body, length = build_response({"model_name": "m"}, OUTPUTS, parse_output_request({}))
    assert length is None
    assert json.loads(body) == {"model_name": "m", "outputs": OUTPUTS}


def test_an_output_that_does_not_fit_stays_json_data() -> None:
    huge = {"name": "big", "datatype": "INT64", "shape": [1], "data": [2**70]}
    body, length = build_response({}, [huge, OUTPUTS[0]], OutputRequest(None, {}, True))
    assert length is not None
    header = json.loads(body[:length])
    assert header["outputs"][0] == huge
    assert header["outputs"][1]["parameters"] == {"binary_data_size": 8}


def test_an_unknown_requested_output_is_named() -> None:
    wanted = parse_output_request({"outputs": [{"name": "nope"}]})
    with pytest.raises(TensorRequestError, match="unknown output 'nope'; the model returned: "):
        build_response({}, OUTPUTS, wanted)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"outputs": "total"}, '"outputs" must be a list'),
        ({"outputs": [{"name": 1}]}, 'outputs[0] must be an object with a string "name"'),
        ({"outputs": ["total"]}, 'outputs[0] must be an object with a string "name"'),
        ({"outputs": [{"name": "a"}, {"name": "a"}]}, "output 'a' is requested twice"),
        ({"outputs": [{"name": "a", "parameters": 1}]}, '"parameters" must be a JSON object'),
        ({"outputs": [{"name": "a", "parameters": {"binary_data": "yes"}}]}, "binary_data must"),
        ({"parameters": {"binary_data_output": 1}}, "binary_data_output must be true or false"),
        ({"outputs": [{"name": "a", "parameters": {"classification": 2}}]}, "classification"),
        (
            {"outputs": [{"name": "a", "parameters": {"shared_memory_region": "r"}}]},
            "output 'a': shared_memory_region is not supported",
        ),
    ],
)
def test_bad_output_requests_are_named(body: dict[str, Any], says: str) -> None:
    with pytest.raises(TensorRequestError) as caught:
        parse_output_request(body)
    assert says in str(caught.value)
