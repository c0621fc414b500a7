"""A message's TypedDict is its rule: each type hint made, once, into a check of a value.

``check_of(hint)`` reads the hints the messages use (str, int, bool, an ``Enum``, a
``Literal``, ``list[X]``, ``dict[str, X]``, ``X | None``, a TypedDict, ``Any``, and
``Annotated[X, rule]`` for what a type cannot say) and returns a function that takes a
received value and gives it back typed (an ``Enum`` member for its value, a TypedDict as
a new dict of its own keys), or raises ``Invalid`` naming the field and what is wrong.
A union of TypedDicts is left to ``tagged``, which picks one by its ``op``.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

Check = Callable[[Any, str], Any]
"""Takes a value and its field's path; gives the value back (typed) or raises Invalid."""


class Invalid(Exception):
    """A field breaks its rule: ``field`` is its path ("runs[0].error.kind")."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field!r} {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Length:
    """A rule for ``Annotated[list[int], Length(2)]``: exactly this many items."""

    items: int

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value``, or None."""
        count = len(value)
        return None if count == self.items else f"must have {self.items} items, not {count}"


@dataclass(frozen=True)
class AtLeast:
    """A rule for ``Annotated[int, AtLeast(0)]`` (or a list of them): no smaller number."""

    least: int

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value``, or None."""
        numbers = value if isinstance(value, list) else [value]
        small = [number for number in numbers if number < self.least]
        return f"must be at least {self.least}, not {small[0]}" if small else None


def json_name(value: Any) -> str:
    """What a received value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    names = {str: "a string", int: "an integer", float: "a number", list: "a list"}
    return names.get(type(value), "an object" if isinstance(value, dict) else type(value).__name__)


def _plain(kind: type, expected: str) -> Check:
    def check(value: Any, field: str) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise Invalid(field, f"must be {expected}, not {json_name(value)}")
        return value

    return check


_PLAIN = {
    str: _plain(str, "a string"),
    int: _plain(int, "an integer"),
    bool: _plain(bool, "true or false"),
}


def _any(value: Any, field: str) -> Any:
    return value


_cache: dict[Any, Check] = {}


def define(hint: Any, check: Check) -> None:
    """Check values of ``hint`` with ``check`` (a union of messages: ``decode.py``'s)."""
    _cache[hint] = check


def check_of(hint: Any) -> Check:
    """The check of a value of type ``hint`` (made once per hint)."""
    found = _cache.get(hint)
    if found is None:
        found = _cache[hint] = _make(hint)
    return found


def _make(hint: Any) -> Check:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return _any
    if hint in _PLAIN:
        return _PLAIN[hint]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum(hint)
    if typing.is_typeddict(hint):
        return _typed_dict(hint)
    if origin is Literal:
        return _literal(args)
    if origin is Annotated:
        return _annotated(check_of(args[0]), hint.__metadata__)
    if origin in (Union, types.UnionType):
        return _optional(hint, args)
    if origin is list:
        return _list(check_of(args[0]))
    if origin is dict and args[0] is str:
        return _dict(check_of(args[1]))
    raise TypeError(f"the protocol has no check for {hint!r}")


def _enum(kind: type[enum.Enum]) -> Check:
    members = {member.value: member for member in kind}

    def check(value: Any, field: str) -> Any:
        if isinstance(value, kind):
            return value
        if isinstance(value, str) and value in members:
            return members[value]
        raise Invalid(field, f"must be one of {sorted(members)}, not {value!r}")

    return check


def _literal(allowed: tuple[Any, ...]) -> Check:
    def check(value: Any, field: str) -> Any:
        if value not in allowed:
            raise Invalid(field, f"must be {' or '.join(map(repr, allowed))}, not {value!r}")
        return value

    return check


def _annotated(base: Check, rules: tuple[Any, ...]) -> Check:
    def check(value: Any, field: str) -> Any:
        value = base(value, field)
        for rule in rules:
            problem = rule.problem(value)
            if problem is not None:
                raise Invalid(field, problem)
        return value

    return check


def _optional(hint: Any, args: tuple[Any, ...]) -> Check:
    others = [arg for arg in args if arg is not type(None)]
    if len(others) != 1 or len(others) == len(args):
        raise TypeError(f"{hint!r}: a union of messages is decoded by tagged()")
    inner = check_of(others[0])

    def check(value: Any, field: str) -> Any:
        return None if value is None else inner(value, field)

    return check


def _list(item: Check) -> Check:
    def check(value: Any, field: str) -> Any:
        if not isinstance(value, list):
            raise Invalid(field, f"must be a list, not {json_name(value)}")
        return [item(each, f"{field}[{index}]") for index, each in enumerate(value)]

    return check


def _dict(item: Check) -> Check:
    def check(value: Any, field: str) -> Any:
        if not isinstance(value, dict):
            raise Invalid(field, f"must be an object, not {json_name(value)}")
        for key in value:
            if not isinstance(key, str):
                raise Invalid(field, f"must have string keys, not {json_name(key)}")
        return {key: item(each, f"{field}.{key}") for key, each in value.items()}

    return check


def _typed_dict(kind: Any) -> Check:
    made: list[dict[str, Check]] = []  # on first use: a message's hints may name later ones
    required = frozenset(kind.__required_keys__)

    def check(value: Any, field: str) -> Any:
        if not made:
            hints = typing.get_type_hints(kind, include_extras=True)
            made.append({name: check_of(hint) for name, hint in hints.items()})
        checks = made[0]
        if not isinstance(value, dict):
            raise Invalid(field, f"must be an object, not {json_name(value)}")
        prefix = f"{field}." if field else ""
        missing = sorted(required - value.keys())
        if missing:
            raise Invalid(prefix + missing[0], "is missing")
        return {
            name: rule(value[name], prefix + name) for name, rule in checks.items() if name in value
        }

    return check
