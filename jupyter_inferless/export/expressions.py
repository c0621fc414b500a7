"""One expression read without running it: literals, containers, operators on built-in
values, and names (which the caller resolves).

Every value is a built-in one (str, bytes, numbers, bool, None, list, tuple, set, dict,
slice), so no operator reaches code of the notebook; sizes are bounded, so no literal can
make the reading run long. Anything else raises :class:`NotStatic`.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any, Protocol

from .statements import Statement

MAX_LENGTH = 1_000_000
"""The longest string or container a concatenation may build."""
MAX_BITS = 4096
"""The largest integer arithmetic may build."""

_NUMBERS = (int, float, complex)
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}  # fmt: skip
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert,
}  # fmt: skip
_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}  # fmt: skip
_CONVERSIONS: dict[int, Callable[[Any], str]] = {
    -1: str,
    ord("s"): str,
    ord("r"): repr,
    ord("a"): ascii,
}


class NotStatic(Exception):
    """A value that only running the notebook would give: why, and where."""

    def __init__(self, reason: str, statement: Statement | None, node: ast.AST | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.statement = statement
        self.node = node

    @property
    def where(self) -> str:
        """``cell 3, line 2: `text```, or "" when it is in no cell."""
        if self.statement is None:
            return ""
        node = self.node if getattr(self.node, "lineno", None) else self.statement.node
        line = getattr(node, "lineno", 1)
        text = ast.unparse(node) if isinstance(node, ast.expr) else self.statement.summary
        if len(text) > 60:
            text = text[:57] + "..."
        return f"{self.statement.cell.label}, line {line}: `{text}`"


class Names(Protocol):
    """What resolves the names of an expression."""

    def name(self, name: str, before: int | None, reader: Statement | None, node: ast.AST) -> Any:
        """The value ``name`` holds when ``reader`` runs (bound before ``before``)."""


class Expression:
    """The reading of expressions of one statement."""

    def __init__(self, names: Names, before: int | None, statement: Statement | None) -> None:
        self.names, self.before, self.statement = names, before, statement

    def refuse(self, reason: str, node: ast.AST | None) -> NotStatic:
        """A refusal at ``node`` of this statement."""
        return NotStatic(reason, self.statement, node)

    def value(self, node: ast.expr) -> Any:
        """The value of ``node``."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.names.name(node.id, self.before, self.statement, node)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            build = {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)]
            return self.guarded(node, build, self.items(node.elts, node))
        if isinstance(node, ast.Dict):
            return self.mapping(node)
        if isinstance(node, ast.Subscript):
            return self.guarded(
                node, operator.getitem, self.value(node.value), self.value(node.slice)
            )
        if isinstance(node, ast.Slice):
            parts = (node.lower, node.upper, node.step)
            return slice(*(None if part is None else self.value(part) for part in parts))
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.BoolOp):
            return self.boolean(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.IfExp):
            return self.value(node.body if self.value(node.test) else node.orelse)
        if isinstance(node, ast.JoinedStr):
            return self.bounded("".join(self.formatted(part) for part in node.values), node)
        raise self.refuse(_why(node), node)

    def items(self, nodes: list[ast.expr], container: ast.expr) -> list[Any]:
        """The elements of a list, tuple or set, ``*`` unpacked."""
        found: list[Any] = []
        for node in nodes:
            if not isinstance(node, ast.Starred):
                found.append(self.value(node))
                continue
            unpacked = self.value(node.value)
            if not isinstance(unpacked, (list, tuple, set, frozenset, str, bytes, dict)):
                raise self.refuse("`*` unpacks something that is not a container", node)
            found.extend(unpacked)
        return self.bounded(found, container)

    def mapping(self, node: ast.Dict) -> dict[Any, Any]:
        """A dict, ``**`` unpacked."""
        built: dict[Any, Any] = {}
        for key, item in zip(node.keys, node.values, strict=True):
            if key is None:
                unpacked = self.value(item)
                if not isinstance(unpacked, dict):
                    raise self.refuse("`**` unpacks something that is not a dict", item)
                built.update(unpacked)
            else:
                self.guarded(key, built.__setitem__, self.value(key), self.value(item))
        return self.bounded(built, node)

    def unary(self, node: ast.UnaryOp) -> Any:
        """``not x``, ``-x``, ``+x``, ``~x`` (numbers only, but for ``not``)."""
        operand = self.value(node.operand)
        if isinstance(node.op, ast.Not):
            return not operand
        if not isinstance(operand, _NUMBERS) or (
            isinstance(node.op, ast.Invert) and not isinstance(operand, int)
        ):
            raise self.refuse(f"`{ast.unparse(node)}` is not arithmetic on a number", node)
        return self.guarded(node, _UNARY[type(node.op)], operand)

    def binary(self, node: ast.BinOp) -> Any:
        """Arithmetic on numbers, and ``+`` of two strings, lists or tuples."""
        left, right = self.value(node.left), self.value(node.right)
        function = _ARITHMETIC.get(type(node.op))
        numbers = isinstance(left, _NUMBERS) and isinstance(right, _NUMBERS)
        joined = isinstance(node.op, ast.Add) and type(left) is type(right)
        if function is None or not (numbers or (joined and isinstance(left, (str, list, tuple)))):
            raise self.refuse(f"`{ast.unparse(node)}` is not an operation export reads", node)
        if isinstance(left, int) and isinstance(right, int) and _too_big(node.op, left, right):
            raise self.refuse(f"`{ast.unparse(node)}` makes too large a number", node)
        return self.bounded(self.guarded(node, function, left, right), node)

    def boolean(self, node: ast.BoolOp) -> Any:
        """``a and b``, ``a or b``."""
        result: Any = None
        for item in node.values:
            result = self.value(item)
            if bool(result) is isinstance(node.op, ast.Or):
                return result
        return result

    def compare(self, node: ast.Compare) -> bool:
        """``a < b <= c``, ``a in b``…"""
        left = self.value(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.value(comparator)
            if not self.guarded(node, _COMPARISONS[type(op)], left, right):
                return False
            left = right
        return True

    def formatted(self, node: ast.expr) -> str:
        """One part of an f-string (no format spec)."""
        if isinstance(node, ast.Constant):
            return str(node.value)
        if not isinstance(node, ast.FormattedValue) or node.format_spec is not None:
            raise self.refuse("an f-string with a format spec is not read", node)
        value = self.value(node.value)
        return str(self.guarded(node, _CONVERSIONS[node.conversion], value))

    def bounded(self, value: Any, node: ast.AST) -> Any:
        """``value``, unless it is too large."""
        if isinstance(value, (str, bytes, list, tuple, dict, set)) and len(value) > MAX_LENGTH:
            raise self.refuse("it builds a value too large to read", node)
        return value

    def guarded(self, node: ast.AST, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` on built-in values; its error a refusal (a missing key…)."""
        try:
            return function(*args)
        except Exception as err:
            raise self.refuse(f"reading it fails: {type(err).__name__}: {err}", node) from None


def _why(node: ast.expr) -> str:
    """Why an expression needs running."""
    if isinstance(node, ast.Call):
        return f"it calls `{ast.unparse(node.func)}(…)`"
    if isinstance(node, ast.Attribute):
        return f"it reads the attribute `{ast.unparse(node)}`"
    if isinstance(node, ast.Lambda):
        return "it is a function (a lambda)"
    return f"a {type(node).__name__} expression is not a literal"


def _too_big(op: ast.operator, left: int, right: int) -> bool:
    if isinstance(op, ast.Pow):
        return max(left.bit_length(), 1) * right > MAX_BITS
    return isinstance(op, ast.Mult) and left.bit_length() + right.bit_length() > MAX_BITS
