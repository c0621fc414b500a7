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
from itertools import chain
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


def depth_of(value: Any, stop_above: int | None = None) -> int:
    """How deep ``value`` nests (lists, tuples and mappings), measured a level at a time
    without recursion; once deeper than ``stop_above`` it stops and returns that depth."""
    level: list[Any] = [value]
    depth = 0
    while True:
        kinds = set(map(type, level))
        if not any(issubclass(kind, _CONTAINERS) for kind in kinds):
            return depth
        depth += 1
        if stop_above is not None and depth > stop_above:
            return depth
        if not all(issubclass(kind, _SEQUENCES) for kind in kinds):  # scalars or mappings
            level = [
                item.values() if isinstance(item, Mapping) else item
                for item in level
                if isinstance(item, _CONTAINERS)
            ]
        level = list(chain.from_iterable(level))  # the next level: every child


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
