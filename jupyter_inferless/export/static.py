"""Values read from the cells without running them: literals, and names of literals.

What :func:`ast.literal_eval` reads (strings, numbers, booleans, None, lists, tuples, sets,
dicts), plus names bound to such values by earlier assignments (``MAX = 64`` then
``"example": [MAX]``), ``*``/``**`` unpacking, subscripts, arithmetic on numbers,
concatenation, comparisons, ``and``/``or``/``not``, ``x if c else y`` and f-strings
without a format spec (see :mod:`.expressions`). A name is read only when it is bound by
such an assignment and nothing changes it in place later (a method call, an item or
attribute assignment, a function's ``global``). Anything else (a call, an attribute, a
class or function, a variable made by work) raises :class:`NotStatic`, naming the
statement and the line.
"""

from __future__ import annotations

import ast
from typing import Any

from .closure import Namespace
from .errors import ExportError
from .expressions import Expression, NotStatic
from .statements import Kind, Statement
from .symbols import mutations

MAX_DEPTH = 100
"""How many names deep a value may be built from other names."""


class Reader:
    """Reads expressions of the cells by the names bound before a position."""

    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace
        self._stack: list[tuple[str, int]] = []

    def read(self, node: ast.expr, before: int | None, statement: Statement | None) -> Any:
        """The value of ``node``, read in ``statement`` (names bound before ``before``)."""
        try:
            return self.value(node, before, statement)
        except RecursionError:
            raise NotStatic("it nests too deeply to read", statement, node) from None

    def value(self, node: ast.expr, before: int | None, statement: Statement | None) -> Any:
        """:meth:`read`, within the reading of another value."""
        if len(self._stack) > MAX_DEPTH:
            raise NotStatic("its constants nest too deeply to read", statement, node)
        return Expression(self, before, statement).value(node)

    def name(self, name: str, before: int | None, reader: Statement | None, node: ast.AST) -> Any:
        """The value a constant's name holds when ``reader`` runs."""
        statement = self.namespace.binding(name, before)
        if statement is None:
            raise NotStatic(f"the name {name!r} is defined by no cell", reader, node)
        kind = statement.kind
        if kind is Kind.WORK:
            raise NotStatic(
                f"the variable {name!r} is made interactively in {statement.cell.label} "
                f"(`{statement.summary}`)",
                statement,
                statement.node,
            )
        if kind is not Kind.CONST:
            what = "imported" if kind is Kind.IMPORT else f"a {_def_kind(statement.node)}"
            raise NotStatic(f"{name!r} is {what}, not a literal", statement, statement.node)
        self._check_unchanged(name, statement, before)
        key = (name, statement.position)
        if key in self._stack:
            raise NotStatic(f"{name!r} is defined from itself", statement, statement.node)
        self._stack.append(key)
        try:
            return self._assigned(name, statement)
        finally:
            self._stack.pop()

    def _assigned(self, name: str, statement: Statement) -> Any:
        node = statement.node
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            return self.value(node.value, statement.position, statement)
        assert isinstance(node, ast.Assign)
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id == name:
                return self.value(node.value, statement.position, statement)
            found = _unpacked(target, node.value, name)
            if found is not None:
                return self.value(found, statement.position, statement)
        raise NotStatic(f"{name!r} is unpacked from a value export cannot split", statement, node)

    def _check_unchanged(self, name: str, statement: Statement, before: int | None) -> None:
        for change in self.namespace.changed.get(name, []):
            later = change.position > statement.position
            if later and (before is None or change.position < before):
                raise NotStatic(
                    f"{name!r} is changed in place in {change.cell.label} (`{change.summary}`)",
                    change,
                    change.node,
                )
        for other in self.namespace.statements:
            if other.kind is Kind.DEF and name in mutations(other.node):
                raise NotStatic(
                    f"{name!r} is changed in place by the {_def_kind(other.node)} "
                    f"{other.binds[0]!r} of {other.cell.label}",
                    other,
                    other.node,
                )
            if name in other.assigned_globals:
                raise NotStatic(
                    f"{name!r} is assigned by a function (`global {name}`) of {other.cell.label}",
                    other,
                    other.node,
                )


def _unpacked(target: ast.expr, value: ast.expr, name: str) -> ast.expr | None:
    """``A, B = 1, 2``: the element of a literal tuple or list that ``name`` is bound to."""
    sequences = (ast.Tuple, ast.List)
    if not isinstance(target, sequences) or not isinstance(value, sequences):
        return None
    if len(target.elts) != len(value.elts):
        return None
    if any(isinstance(item, ast.Starred) for item in [*target.elts, *value.elts]):
        return None
    for item, element in zip(target.elts, value.elts, strict=True):
        if isinstance(item, ast.Name) and item.id == name:
            return element
        found = _unpacked(item, element, name)
        if found is not None:
            return found
    return None


def _def_kind(node: ast.stmt) -> str:
    return "class" if isinstance(node, ast.ClassDef) else "function"


def read_value(
    namespace: Namespace,
    node: ast.expr,
    before: int | None,
    statement: Statement | None,
    subject: str,
    what: str,
    hint: str,
) -> Any:
    """The value of ``node`` read without running anything, or an ExportError naming the
    cell and line that would need running, and saying what to do (``hint``)."""
    try:
        return Reader(namespace).read(node, before, statement)
    except NotStatic as err:
        where = f" ({err.where})" if err.where else ""
        raise ExportError(
            f"cannot export {subject}: {what} cannot be read without running the notebook: "
            f"{err.reason}{where}; {hint}"
        ) from None
