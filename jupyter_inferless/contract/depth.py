"""How deep a request's values may nest, checked without recursion.

Validating and packing a value both recurse, once per level: a value nested a few hundred
levels deep would exhaust the interpreter's recursion limit somewhere on the way to the
kernel, and a failure to pack it would end every request sharing its kernel message. So
the server measures each input's depth first, level by level with no recursion, and
refuses what nests deeper than its limit. (The JSON parser before it recurses too, but
stops with RecursionError, which the server answers with 400: ``too_deep_to_parse``.)

Depth counts containers: a scalar is 0 deep, ``[1]`` 1, ``[[1]]`` and ``{"a": [1]}`` 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import InputError

DEFAULT_MAX_INPUT_DEPTH = 32
"""How deep an input's value may nest, by default (``c.Service.max_input_depth``)."""
MAX_INPUT_DEPTH = 256
"""The most a server may allow: far below the interpreter's recursion limit (1000), with
room for the frames of the stack that validates and packs a request."""
LIMIT_NAME = "max_input_depth"

_CONTAINERS = (list, tuple, Mapping)
_SEQUENCES = (list, tuple)
SLICE = 16 * 1024  # values looked at by one call


def depth_of(value: Any, stop_above: int | None = None) -> int:
    """How deep ``value`` nests (lists, tuples and mappings), measured a level at a time
    without recursion; once deeper than ``stop_above`` it stops and returns that depth.
    A level is read SLICE values per call, so that a decode thread measuring a large value
    leaves the server's loop the GIL between two."""
    level: list[Any] = [value]
    depth = 0
    while True:
        children: list[Any] = []
        found = False
        for start in range(0, len(level), SLICE):
            part = level[start : start + SLICE]
            if not any(issubclass(kind, _CONTAINERS) for kind in set(map(type, part))):
                continue  # scalars only
            found = True
            for item in part:
                if isinstance(item, Mapping):
                    children += list(item.values())
                elif isinstance(item, _SEQUENCES):
                    for first in range(0, len(item), SLICE):
                        inner = item[first : first + SLICE]
                        kinds = set(map(type, inner))
                        if any(issubclass(kind, _CONTAINERS) for kind in kinds):
                            children += inner  # scalars add no depth: only containers go on
        if not found:
            return depth
        depth += 1
        if stop_above is not None and depth > stop_above:
            return depth
        level = children


def check_depth(value: Any, limit: int, name: str | None = None, what: str = "") -> None:
    """Raise InputError, naming the limit (and the input ``name``), when ``value`` nests
    deeper than ``limit``; ``what`` names a part of the request that is not an input."""
    if depth_of(value, stop_above=limit) > limit:
        subject = what or (f"input {name[:80]!r}" if name is not None else "a value")
        raise InputError(
            f"{subject} is nested more than {limit} levels deep ({_named(limit)})", name
        )


def too_deep_to_parse(what: str, limit: int) -> str:
    """The refusal of a JSON text the parser gave up on (RecursionError), naming the limit."""
    return (
        f"{what} is nested too deeply to parse: an input may nest {limit} levels ({_named(limit)})"
    )


def _named(limit: int) -> str:
    return f"the server's {LIMIT_NAME} is {limit}"
