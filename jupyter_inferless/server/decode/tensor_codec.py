"""Triton's binary tensor encoding: one tensor's raw bytes to JSON values, and back.

BYTES (and STRING) elements are a 4-byte little-endian length then the bytes; numbers
are little-endian (BOOL one byte, BF16 the upper half of a float32). A large tensor is
decoded STEP values per call, so a decode thread leaves the server's loop the GIL between
two. Pure: no tornado, no numpy.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from ..errors import TensorRequestError

STRING_LABELS = frozenset({"BYTES", "STRING"})
STRUCT_CODES: dict[str, str] = {
    "BOOL": "?",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
    "BF16": "H",  # the upper 16 bits of a float32
}
STEP = 16 * 1024  # values decoded by one call


def decode(datatype: Any, raw: bytes, name: str) -> list[Any]:
    """The elements of one binary tensor, as JSON values; ``name`` is how errors name it."""
    label = datatype.upper() if isinstance(datatype, str) else datatype
    if label in STRING_LABELS:
        return _decode_strings(raw, name)
    code = STRUCT_CODES.get(label) if isinstance(label, str) else None
    if code is None:
        known = ", ".join(sorted({*STRUCT_CODES, *STRING_LABELS}))
        raise TensorRequestError(
            f"input {name}: datatype {datatype!r} cannot carry binary data (known: {known})"
        )
    width = struct.calcsize(code)
    if len(raw) % width:
        raise TensorRequestError(
            f"input {name}: {len(raw)} bytes is not a whole number of {width}-byte {label} values"
        )
    values: list[Any] = []
    count = len(raw) // width
    for start in range(0, count, STEP):  # a step at a time: no call holds the GIL for long
        size = min(STEP, count - start)
        if label == "BOOL" and raw[start : start + size].translate(None, b"\x00\x01"):
            index, byte = next((i, b) for i, b in enumerate(raw) if b > 1)
            raise TensorRequestError(
                f"input {name}: BOOL element {index} is byte {byte}, not 0 or 1"
            )
        part = struct.unpack_from(f"<{size}{code}", raw, start * width)
        if label == "BF16":
            widened = struct.pack(f"<{size}I", *(bits << 16 for bits in part))
            part = struct.unpack(f"<{size}f", widened)
        values += part
    return values


def encode(datatype: str, data: list[Any]) -> bytes | None:
    """One output tensor's raw bytes, or None when its values do not fit the datatype."""
    if datatype in STRING_LABELS:
        return _encode_strings(data)
    code = STRUCT_CODES.get(datatype)
    if code is None or not all(isinstance(item, (bool, int, float)) for item in data):
        return None
    try:
        if datatype == "BF16":
            return struct.pack(f"<{len(data)}H", *(_bf16_bits(float(item)) for item in data))
        return struct.pack(f"<{len(data)}{code}", *data)
    except (struct.error, OverflowError):
        return None


def _decode_strings(raw: bytes, name: str) -> list[str]:
    items: list[str] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise TensorRequestError(
                f"input {name}: element {len(items)} has only {len(raw) - offset} of the "
                "4 bytes of its length"
            )
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise TensorRequestError(
                f"input {name}: element {len(items)} says {size} bytes, "
                f"but only {len(raw) - offset} are left"
            )
        try:
            items.append(raw[offset : offset + size].decode("utf-8"))
        except UnicodeDecodeError as err:
            raise TensorRequestError(
                f"input {name}: element {len(items)} is not UTF-8 text "
                f"({err.reason} at byte {err.start})"
            ) from None
        offset += size
    return items


def _encode_strings(data: list[Any]) -> bytes | None:
    """Length-prefixed UTF-8; values that are not strings go as their JSON text."""
    chunks = []
    for item in data:
        text = item if isinstance(item, str) else json.dumps(item)
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: only JSON can carry it
            return None
        chunks.append(struct.pack("<I", len(raw)) + raw)
    return b"".join(chunks)


def _bf16_bits(value: float) -> int:
    """The bfloat16 nearest to ``value`` (ties to even), as its 16 bits."""
    (bits,) = struct.unpack("<I", struct.pack("<f", value))
    if value != value:  # NaN
        return 0x7FC0
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF
