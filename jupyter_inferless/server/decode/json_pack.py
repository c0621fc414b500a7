"""JSON for the kernel, strict, and packed in steps when it is large.

The inputs of a request go to the kernel as JSON in its ``infer`` message. ``dumps`` is
strict where jupyter_client's packer is lenient: a number JSON cannot carry (NaN, an
infinity) or a lone surrogate raises ValueError, never a silent substitute (its packer
turns ``inf`` into the string ``"inf"`` and a surrogate escape into a byte that is not
UTF-8).

The inputs of a large body are packed by a decode thread: ``pack`` encodes them a slice
of at most STEP values per call, so that no call holds the GIL for long, into a
``RawJSON`` (its pieces) that the loop only passes along. ``message`` makes a message's
JSON with each RawJSON's pieces put in place, for the transport to send.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

STEP = 16 * 1024  # values encoded by one call
_SCALARS = frozenset({str, int, float, bool, type(None)})
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":")
)  # compact: for 10 MiB of INT8, 36 MB of JSON to the kernel instead of 46


class RawJSON:
    """Text that is JSON already (UTF-8, in pieces), put as it is where it stands in a
    message.

    ``offload`` runs work in the threads that made it (``Decoding.submit``): the message
    that carries it is made ready there too (``Outgoing``)."""

    __slots__ = ("offload", "pieces", "size")

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.size = sum(map(len, pieces))
        self.offload: Any = None

    def __len__(self) -> int:
        return self.size


def dumps(value: Any) -> bytes:
    """``value`` as strict JSON in UTF-8: ValueError for what JSON cannot carry."""
    return _ENCODER.encode(value).encode("utf-8")


def pack(value: Any) -> RawJSON:
    """``value`` as strict JSON, encoded a slice at a time (ValueError as ``dumps``)."""
    pieces: list[bytes] = []
    _write(pieces.append, value)
    return RawJSON(pieces)


def _write(put: Callable[[bytes], None], value: Any) -> None:
    if isinstance(value, dict):
        put(b"{")
        for index, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise ValueError(f"a key of a JSON object is a string, not {key!r}")
            put(b"%s%s:" % (b"," if index else b"", dumps(key)))
            _write(put, item)
        put(b"}")
    elif isinstance(value, list):
        put(b"[")
        for start in range(0, len(value), STEP):
            part = value[start : start + STEP]
            if start:
                put(b",")
            if _SCALARS.issuperset(map(type, part)):
                put(dumps(part)[1:-1])
                continue
            for index, item in enumerate(part):
                if index:
                    put(b",")
                _write(put, item)
        put(b"]")
    else:
        put(dumps(value))


def message(value: Any) -> bytes | bytearray:
    """The JSON of a message: ``dumps``, with the pieces of each RawJSON in it in place
    (in one buffer of the final size: nothing large is copied twice)."""
    raws: list[RawJSON] = []
    marker = "raw-json-" + secrets.token_hex(8)

    def swap(item: Any) -> Any:
        if isinstance(item, RawJSON):
            raws.append(item)
            return f"{marker}:{len(raws) - 1}"
        if isinstance(item, dict):
            return {key: swap(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [swap(inner) for inner in item]
        return item

    text = dumps(swap(value))
    if not raws:
        return text
    pieces = text.split(f'"{marker}:'.encode())
    parts: list[bytes] = [pieces[0]]
    for piece in pieces[1:]:
        number, _, rest = piece.partition(b'"')
        parts += raws[int(number)].pieces
        parts.append(rest)
    out = bytearray(sum(map(len, parts)))
    position = 0
    for part in parts:
        out[position : position + len(part)] = part
        position += len(part)
    return out
