"""Triton's binary tensor data extension: read binary inputs, frame binary outputs.

A binary request body is a JSON header of ``Inference-Header-Content-Length`` bytes, then
the raw bytes of each input whose ``parameters.binary_data_size`` says how many, in order
(each tensor's encoding: ``tensor_codec.py``). Binary inputs become ordinary JSON ``data``
lists, so the usual input checks apply. Pure: no tornado, no numpy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...contract import DEFAULT_MAX_INPUT_DEPTH, too_deep_to_parse
from ..errors import TensorRequestError
from . import json_steps
from .tensor_codec import decode, encode

__all__ = [
    "HEADER_LENGTH",
    "OutputRequest",
    "build_response",
    "inline_inputs",
    "parse_output_request",
    "split_body",
]

HEADER_LENGTH = "Inference-Header-Content-Length"
_LENGTH = re.compile(r"\s*[0-9]{1,12}\s*")


@dataclass(frozen=True)
class OutputRequest:
    """Which outputs a request wants back, and which of them as binary data."""

    names: tuple[str, ...] | None = None  # None: every output, in the model's order
    binary: dict[str, bool] = field(default_factory=dict)
    default_binary: bool = False

    def is_binary(self, name: str) -> bool:
        """Whether output ``name`` goes back as raw bytes."""
        return self.binary.get(name, self.default_binary)


def split_body(
    body: bytes, header_length: str, max_depth: int = DEFAULT_MAX_INPUT_DEPTH
) -> tuple[Any, bytes]:
    """The parsed JSON header and the raw bytes after it (a header too deep to parse is
    refused naming ``max_depth``, how deep an input may nest)."""
    if not _LENGTH.fullmatch(header_length):
        raise TensorRequestError(f"{HEADER_LENGTH} must be a byte count, not {header_length!r}")
    length = int(header_length)
    if length > len(body):
        raise TensorRequestError(
            f"{HEADER_LENGTH} is {length} but the body has only {len(body)} bytes"
        )
    try:
        text = body[:length].decode("utf-8")
    except UnicodeDecodeError as err:
        raise TensorRequestError(
            f"the JSON header is not UTF-8 ({err.reason} at byte {err.start}); "
            f"is {HEADER_LENGTH} right?"
        ) from None
    try:
        if len(text) > json_steps.WINDOW:  # a large header: read in steps
            header = json_steps.loads(text)
        else:
            header = json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:
        raise TensorRequestError(
            f"the JSON header ({HEADER_LENGTH}: {length}) is not valid JSON: {err}"
        ) from None
    except RecursionError:
        raise TensorRequestError(too_deep_to_parse("the JSON header", max_depth)) from None
    return header, body[length:]


def inline_inputs(request: Any, binary: bytes | None) -> Any:
    """``request`` with each binary input's bytes turned into a ``data`` list.

    ``binary`` is what followed the JSON header, or None when the request had no
    Inference-Header-Content-Length (then no input may claim binary data).
    """
    tensors = request.get("inputs") if isinstance(request, Mapping) else None
    if not isinstance(tensors, list):
        if binary:
            raise TensorRequestError(f"{len(binary)} bytes follow the JSON header, but no inputs")
        return request
    inlined: list[Any] = []
    offset = 0
    for index, tensor in enumerate(tensors):
        size = _binary_size(tensor, index)
        if size is None:
            inlined.append(tensor)
            continue
        name = _name_of(tensor, index)
        if binary is None:
            raise TensorRequestError(
                f"input {name}: parameters.binary_data_size is set, "
                f"but the request has no {HEADER_LENGTH} header"
            )
        if "data" in tensor:
            raise TensorRequestError(f"input {name}: give either data or binary_data_size")
        if offset + size > len(binary):
            raise TensorRequestError(
                f"input {name}: binary_data_size is {size}, but only {len(binary) - offset} "
                "bytes are left after the JSON header and the inputs before it"
            )
        data = decode(tensor.get("datatype"), binary[offset : offset + size], name)
        offset += size
        parameters = {k: v for k, v in tensor["parameters"].items() if k != "binary_data_size"}
        inlined.append({**tensor, "parameters": parameters, "data": data})
    if binary is not None and offset != len(binary):
        raise TensorRequestError(
            f"{len(binary)} bytes follow the JSON header, but the inputs' binary_data_size "
            f"add up to {offset}"
        )
    return {**request, "inputs": inlined}


def parse_output_request(request: Mapping[str, Any]) -> OutputRequest:
    """Read ``outputs`` and ``parameters.binary_data_output`` of a v2 infer request."""
    parameters = request.get("parameters")
    default = False
    if isinstance(parameters, Mapping):
        default = _flag(parameters, "binary_data_output", "parameters.binary_data_output")
    wanted = request.get("outputs")
    if wanted is None or wanted == []:
        return OutputRequest(None, {}, default)
    if not isinstance(wanted, list):
        raise TensorRequestError('"outputs" must be a list of {"name", "parameters"}')
    names: list[str] = []
    binary: dict[str, bool] = {}
    for index, output in enumerate(wanted):
        name = output.get("name") if isinstance(output, Mapping) else None
        if not isinstance(name, str):
            raise TensorRequestError(f'outputs[{index}] must be an object with a string "name"')
        if name in binary:
            raise TensorRequestError(f"output {name!r} is requested twice")
        options = output.get("parameters") or {}
        if not isinstance(options, Mapping):
            raise TensorRequestError(f'output {name!r}: "parameters" must be a JSON object')
        for unsupported in ("classification", "shared_memory_region"):
            if options.get(unsupported):
                raise TensorRequestError(f"output {name!r}: {unsupported} is not supported")
        names.append(name)
        binary[name] = _flag(options, "binary_data", f"output {name!r}: binary_data", default)
    return OutputRequest(tuple(names), binary, default)


def build_response(
    reply: dict[str, Any], tensors: list[dict[str, Any]], wanted: OutputRequest
) -> tuple[bytes, int | None]:
    """The response body and, when it carries binary outputs, the JSON header's length.

    ``tensors`` are v2 output tensors with ``data``. An output whose values do not fit
    its datatype's binary form stays in the JSON header as ``data``.
    """
    by_name = {tensor["name"]: tensor for tensor in tensors}
    names = wanted.names if wanted.names is not None else tuple(by_name)
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name in names:
        tensor = by_name.get(name)
        if tensor is None:
            known = ", ".join(repr(key) for key in by_name) or "none"
            raise TensorRequestError(f"unknown output {name[:80]!r}; the model returned: {known}")
        raw = encode(tensor["datatype"], tensor["data"]) if wanted.is_binary(name) else None
        if raw is None:
            outputs.append(tensor)
            continue
        described = {key: value for key, value in tensor.items() if key != "data"}
        described["parameters"] = {"binary_data_size": len(raw)}
        outputs.append(described)
        chunks.append(raw)
    header = json.dumps({**reply, "outputs": outputs}).encode("utf-8")
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)


def _binary_size(tensor: Any, index: int) -> int | None:
    parameters = tensor.get("parameters") if isinstance(tensor, Mapping) else None
    if not isinstance(parameters, Mapping):
        return None
    if parameters.get("shared_memory_region") is not None:
        raise TensorRequestError(
            f"input {_name_of(tensor, index)}: shared memory is not supported; "
            "send the data in the body"
        )
    size = parameters.get("binary_data_size")
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise TensorRequestError(
            f"input {_name_of(tensor, index)}: binary_data_size must be a byte count, not {size!r}"
        )
    return size


def _name_of(tensor: Mapping[str, Any], index: int) -> str:
    name = tensor.get("name")
    return repr(name[:80]) if isinstance(name, str) else f"inputs[{index}]"


def _flag(options: Mapping[str, Any], key: str, what: str, default: bool = False) -> bool:
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise TensorRequestError(f"{what} must be true or false, not {value!r}")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
