"""The top-level statements of the cells: what each binds, reads, and whether it is pure.

A statement is *pure* when running it again elsewhere gives the same result: an import,
a ``def`` or ``class``, or an assignment of a constant expression (literals, operators,
containers, attributes and subscripts of other names, reads of the environment; no other
calls, no comprehensions).
Anything else that binds a name (a call, ``input()``, a loop, ``+=``, ``with``…) is
*work*. Magics, shell escapes and jupyter_inferless's own serve/stop/stream calls are
neither: the analysis skips them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from enum import Enum

from .cells import Cell
from .quoting import one_line
from .symbols import bound_names, references

SERVING_CALLS = frozenset({"serve", "stop", "stream", "connection"})
"""jupyter_inferless functions a cell may call without doing "work" for export."""

_CONSTANT_NODES = (
    ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Slice, ast.Tuple, ast.List,
    ast.Set, ast.Dict, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp,
    ast.JoinedStr, ast.FormattedValue, ast.Starred, ast.expr_context, ast.operator,
    ast.unaryop, ast.boolop, ast.cmpop,
)  # fmt: skip


class Kind(Enum):
    """What a top-level statement is, for export."""

    IMPORT = "import"
    DEF = "definition"
    CONST = "constant"
    WORK = "work"
    SKIPPED = "skipped"  # a magic, a serve call, a docstring, pass


@dataclass(frozen=True)
class Statement:
    """One top-level statement of a cell."""

    cell: Cell
    position: int
    """Order of execution over all cells."""
    node: ast.stmt
    kind: Kind
    binds: tuple[str, ...]
    immediate: frozenset[str]
    """Names read when the statement runs (values, decorators, bases, defaults)."""
    deferred: frozenset[str]
    """Names read later, when a function it defines is called."""
    assigned_globals: frozenset[str]
    """Names its functions assign with ``global``: they need no binding of their own."""
    is_work: bool
    """Whether it makes its cell one that "also does other work"."""

    @property
    def text(self) -> str:
        """The statement's source, decorators included."""
        return segment(self.cell.python, self.node)

    @property
    def summary(self) -> str:
        """Its first line, for messages (control characters escaped)."""
        first = one_line(self.text.strip().splitlines()[0])
        return first if len(first) <= 60 else first[:57] + "..."


def segment(source: str, node: ast.stmt) -> str:
    """The exact source of a top-level statement (from its first decorator)."""
    decorators = getattr(node, "decorator_list", [])
    start = min([node, *decorators], key=lambda item: item.lineno)
    lines = source.splitlines()[start.lineno - 1 : node.end_lineno]
    end = node.end_col_offset if node.end_col_offset is not None else len(lines[-1])
    lines[-1] = lines[-1][:end]
    lines[0] = lines[0][start.col_offset :]
    return "\n".join(lines)


@dataclass(frozen=True)
class Aliases:
    """The names the cells give jupyter_inferless and its serving functions."""

    modules: frozenset[str]
    functions: frozenset[str]
    """Aliases of serve, stop, stream and connection imported by name."""
    serve: frozenset[str]
    """Aliases of serve imported by name."""


def find_aliases(cells: list[Cell]) -> Aliases:
    """``import jupyter_inferless as ji``, ``from jupyter_inferless import serve``…"""
    modules, functions, serve = {"jupyter_inferless"}, set(), set()
    for cell in cells:
        for node in ast.walk(cell.tree) if cell.tree else ():
            if isinstance(node, ast.Import):
                modules |= {a.asname or a.name for a in node.names if a.name == "jupyter_inferless"}
            elif isinstance(node, ast.ImportFrom) and node.module == "jupyter_inferless":
                functions |= {a.asname or a.name for a in node.names if a.name in SERVING_CALLS}
                serve |= {a.asname or a.name for a in node.names if a.name == "serve"}
    return Aliases(frozenset(modules), frozenset(functions), frozenset(serve))


def statements_of(cells: list[Cell], aliases: Aliases) -> list[Statement]:
    """Every top-level statement of the cells, classified, in execution order."""
    found: list[Statement] = []
    for cell in cells:
        for node in cell.tree.body if cell.tree else ():
            kind, binds = classify(node, aliases)
            immediate, deferred, assigned = references(node)
            work = kind is Kind.WORK and not _skippable(node, aliases)
            found.append(
                Statement(cell, len(found), node, kind, binds, immediate, deferred, assigned, work)
            )
    return found


def classify(node: ast.stmt, aliases: Aliases) -> tuple[Kind, tuple[str, ...]]:
    """A statement's kind and the module-level names it binds."""
    if isinstance(node, ast.Import):
        return Kind.IMPORT, tuple(a.asname or a.name.split(".")[0] for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return Kind.IMPORT, tuple(a.asname or a.name for a in node.names)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return Kind.DEF, (node.name,)
    if isinstance(node, ast.Pass) or (
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    ):
        return Kind.SKIPPED, ()
    if isinstance(node, ast.Expr) and _skippable(node, aliases):
        return Kind.SKIPPED, ()
    binds = bound_names(node)
    if _is_constant_assignment(node):
        return Kind.CONST, binds
    return Kind.WORK, binds


def _skippable(node: ast.stmt, aliases: Aliases) -> bool:
    """A magic or shell escape, or a jupyter_inferless serve/stop/stream call (its result
    may be assigned)."""
    value = getattr(node, "value", None)
    if not isinstance(node, (ast.Expr, ast.Assign)) or not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Attribute):
        base = func.value
        if isinstance(base, ast.Call) and isinstance(base.func, ast.Name):
            return base.func.id == "get_ipython"
        return (
            isinstance(base, ast.Name) and base.id in aliases.modules and func.attr in SERVING_CALLS
        )
    return isinstance(func, ast.Name) and func.id in aliases.functions


def _is_constant_assignment(node: ast.stmt) -> bool:
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return False
    return all(_plain_target(target) for target in targets) and is_constant_expression(value)


def _plain_target(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, ast.Starred):
        return _plain_target(target.value)
    return isinstance(target, (ast.Tuple, ast.List)) and all(map(_plain_target, target.elts))


def is_constant_expression(node: ast.expr) -> bool:
    """Built only from literals, operators, containers, (attributes of) names and reads of
    the environment (``os.environ[…]``, ``os.getenv(…)``, ``os.environ.get(…)``)."""
    if isinstance(node, ast.Lambda):  # a definition: its body runs only when called
        defaults = [*node.args.defaults, *node.args.kw_defaults]
        return all(is_constant_expression(d) for d in defaults if d is not None)
    if isinstance(node, ast.Call) and is_env_read(node):
        values = [*node.args, *(keyword.value for keyword in node.keywords)]
        return all(is_constant_expression(value) for value in values)
    if not isinstance(node, _CONSTANT_NODES):
        return False
    return all(
        is_constant_expression(child)
        for child in ast.iter_child_nodes(node)
        if isinstance(child, ast.expr)
    )


def is_env_read(node: ast.expr) -> bool:
    """``os.getenv(…)``, ``getenv(…)``, ``os.environ.get(…)``, ``environ.get(…)`` or
    ``os.environ[…]``: the value is the environment's where the model runs."""
    if isinstance(node, ast.Subscript):
        return _names_environ(node.value)
    if not isinstance(node, ast.Call) or not node.args:
        return False
    func = node.func
    if isinstance(func, ast.Name):
        return func.id == "getenv"
    if isinstance(func, ast.Attribute) and func.attr == "getenv":
        return isinstance(func.value, ast.Name)
    return isinstance(func, ast.Attribute) and func.attr == "get" and _names_environ(func.value)


def _names_environ(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name)
    return isinstance(node, ast.Name) and node.id == "environ"
