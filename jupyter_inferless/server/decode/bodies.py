"""A request's body read into inputs: what the handlers do on the loop for a small body, and
what a decode thread or process does with a large one (``decoding.py``).

Pure: bytes and limits in, the parsed request (or its inputs packed for the kernel) out;
refusals are tornado HTTPErrors (400, 413) or the contract's and the tensor framing's
errors, with the same text whichever of the three reads the body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tornado import web

from ...contract import ModelSchema, decode_body, too_deep_to_parse
from ..errors import InputRejected
from . import binary_tensors, json_pack, json_steps
from .binary_tensors import OutputRequest
from .json_pack import RawJSON

INFER_SHAPE = 'a v2 infer request is {"inputs": [{"name", "shape", "datatype", "data"}]}'


@dataclass(frozen=True)
class Body:
    """A request body to read: JSON (``infer`` False), or a v2 infer request (JSON, or with
    ``header_length`` Triton's binary form); its limits; ``steps``: read in bounded steps."""

    data: bytes
    max_bytes: int
    max_depth: int
    infer: bool = False
    header_length: str | None = None
    steps: bool = False


@dataclass
class Read:
    """A large body's inputs packed for the kernel, and what an infer request asked for."""

    packed: RawJSON
    wanted: OutputRequest | None = None
    id: Any = None


def json_body(body: Body) -> Any:
    """The body as JSON, or a 400/413 naming what is wrong."""
    data = body.data
    if len(data) > body.max_bytes:
        raise web.HTTPError(413, f"the body is larger than {body.max_bytes} bytes")
    if not data.strip():
        return {}
    try:
        text = json_steps.decode_utf8(data) if body.steps else data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise web.HTTPError(
            400, f"the body is not UTF-8 ({err.reason} at byte {err.start})"
        ) from None
    try:
        if body.steps:
            return json_steps.loads(text)
        return json.loads(text, parse_constant=json_steps.reject_constant)
    except ValueError as err:
        raise web.HTTPError(400, f"the body is not valid JSON: {err}") from None
    except RecursionError:
        raise web.HTTPError(400, too_deep_to_parse("the body", body.max_depth)) from None


def infer_request(body: Body) -> tuple[dict[str, Any], OutputRequest]:
    """A v2 infer request (binary inputs turned into JSON ``data``) and the outputs it wants."""
    length = body.header_length
    if length is not None and len(body.data) > body.max_bytes:
        raise web.HTTPError(413, f"the body is larger than {body.max_bytes} bytes")
    if length is None:
        request = binary_tensors.inline_inputs(json_body(body), None)
    else:
        header, binary = binary_tensors.split_body(body.data, length, body.max_depth)
        request = binary_tensors.inline_inputs(header, binary)
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise web.HTTPError(400, INFER_SHAPE)
    return request, binary_tensors.parse_output_request(request)


def read_and_pack(body: Body, schema: ModelSchema) -> Read:
    """Read ``body``, check its inputs against ``schema`` and pack them for the kernel
    (InputRejected for what JSON cannot carry); what was read is let go of a slice at a
    time, so that freeing it is no single long call."""
    wanted, request_id = None, None
    if body.infer:
        request, wanted = infer_request(body)
        request_id = request.get("id")
    else:
        request = json_body(body)
    try:
        inputs = decode_body(schema, request, body.max_depth)
        try:
            packed = json_pack.pack(inputs)
        except (TypeError, ValueError, RecursionError) as err:
            raise InputRejected(f"the inputs cannot be sent to the kernel: {err}") from None
        finally:
            release(inputs)
    finally:
        release(request)
    return Read(packed, wanted, request_id)


SLICE = 16 * 1024  # values let go of by one call


def release(value: Any) -> None:
    """Empty the large lists in ``value`` a slice at a time (freeing a list of 10M values
    is one call: 40 ms of GIL). Only for what was read from a body: nothing else holds
    its lists."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            for start in range(0, len(item), SLICE):
                stack.extend(v for v in item[start : start + SLICE] if isinstance(v, (list, dict)))
            while len(item) > SLICE:
                del item[-SLICE:]
