"""What the model needs from the cells, transitively, and the refusals of what export
cannot carry.

Names are resolved the way Python resolves them: a name read when a statement runs
(a constant's value, a class's bases and body, decorators, defaults) is the binding made
before that statement; a name read inside a function body is the last binding of all,
since the model runs after every cell has.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ExportError, refusal
from .statements import Kind, Statement
from .symbols import mutations

KERNEL_ONLY = frozenset({"get_ipython", "display", "__IPYTHON__"})
"""Builtins IPython adds in a kernel: a model directory has none of them."""
BUILTINS = (frozenset(dir(builtins)) | {"__name__", "__doc__"}) - KERNEL_ONLY


class Namespace:
    """The notebook's module-level names and the statements that bind them."""

    def __init__(self, statements: list[Statement]) -> None:
        self.statements = statements
        self.bindings: dict[str, list[Statement]] = {}
        self.star_imports = [
            s
            for s in statements
            if isinstance(s.node, ast.ImportFrom) and any(a.name == "*" for a in s.node.names)
        ]
        for statement in statements:
            for name in statement.binds:
                self.bindings.setdefault(name, []).append(statement)
        self.changed: dict[str, list[Statement]] = {}
        for statement in statements:
            if statement.kind is Kind.WORK:
                for name in mutations(statement.node):
                    self.changed.setdefault(name, []).append(statement)

    def binding(self, name: str, before: int | None = None) -> Statement | None:
        """The statement that bound ``name`` last before position ``before`` (or last of
        all); the last of all when nothing bound it before."""
        found = self.bindings.get(name, [])
        earlier = [s for s in found if before is None or s.position < before]
        chosen = earlier or found
        return chosen[-1] if chosen else None

    def work_in(self, statement: Statement) -> Statement | None:
        """The first statement of work in ``statement``'s cell."""
        return next((s for s in self.statements if s.cell is statement.cell and s.is_work), None)


@dataclass
class Carried:
    """The statements export carries into app.py, and the names each must bind."""

    names: dict[int, set[str]] = field(default_factory=dict)
    """Position of a statement → the names it binds that the model needs."""
    statements: dict[int, Statement] = field(default_factory=dict)

    def ordered(self) -> list[Statement]:
        """The carried statements in execution order."""
        return [self.statements[position] for position in sorted(self.statements)]


def carry(namespace: Namespace, roots: Iterable[tuple[str, int | None]], subject: str) -> Carried:
    """The closure of ``roots`` (name, read before position); refuse what cannot go."""
    carried = Carried()
    problems: list[str] = []
    pending: list[tuple[str, int | None, Statement | None]] = [
        (name, before, None) for name, before in roots
    ]
    seen: set[tuple[str, int | None]] = set()
    while pending:
        name, before, reader = pending.pop()
        if (name, before) in seen:
            continue
        seen.add((name, before))
        statement = namespace.binding(name, before)
        if statement is None:
            if name not in BUILTINS and not (reader and name in reader.assigned_globals):
                problems.append(_undefined(namespace, name, reader))
            continue
        problem = _refusal(namespace, name, statement)
        if problem:
            problems.append(problem)
            if statement.kind is Kind.WORK:
                continue  # what it read is not what the model needs: report it alone
        carried.names.setdefault(statement.position, set()).add(name)
        if statement.position in carried.statements:
            continue
        carried.statements[statement.position] = statement
        pending += [(read, statement.position, statement) for read in statement.immediate]
        pending += [(read, None, statement) for read in statement.deferred]
    if problems:
        raise ExportError(refusal(subject, problems))
    return carried


def _refusal(namespace: Namespace, name: str, statement: Statement) -> str | None:
    where = statement.cell.label
    if statement.kind is Kind.WORK:
        return (
            f"the variable {name!r} is made interactively in {where} (`{statement.summary}`); "
            "export carries only imports, definitions and constants written as literals, so "
            "compute it in the model's initialize() or write its value as a literal"
        )
    if statement.kind is Kind.IMPORT:
        return None
    work = namespace.work_in(statement)
    if work is not None:
        what = {Kind.DEF: _def_kind(statement.node), Kind.CONST: "constant"}[statement.kind]
        return (
            f"the {what} {name!r} is defined in {where}, which also does other work "
            f"(`{work.summary}`); move the definitions to a cell of their own"
        )
    for change in namespace.changed.get(name, []):
        if change.position > statement.position:
            return (
                f"{name!r} (defined in {where}) is changed in place in {change.cell.label} "
                f"(`{change.summary}`), so its value is not the one {where} writes"
            )
    return None


def _def_kind(node: ast.stmt) -> str:
    return "class" if isinstance(node, ast.ClassDef) else "function"


def _undefined(namespace: Namespace, name: str, reader: Statement | None) -> str:
    used = f" (used in {reader.cell.label})" if reader else ""
    text = (
        f"the name {name!r}{used} is not defined by any cell; names made by %run, exec or "
        "the kernel cannot be exported, define it in a cell"
    )
    if namespace.star_imports:
        star = namespace.star_imports[-1]
        text += f" (or import it by name: `{star.summary}` in {star.cell.label} may define it)"
    return text


def local_files(carried: Carried, base: Path) -> list[str]:
    """Problems for string literals of the carried code that name files next to the
    notebook (``"weights.pt"``, ``"data/"``): export carries code, not files."""
    problems = []
    for statement in carried.ordered():
        for node in ast.walk(statement.node):
            if isinstance(node, ast.Constant) and _names_a_file(node.value, base):
                problems.append(
                    f"the model reads the local file {node.value!r} ({statement.cell.label}: "
                    f"`{statement.summary}`); export carries code, not files: load it from a "
                    "URL, a package or a volume in initialize()"
                )
    return problems


def _names_a_file(value: Any, base: Path) -> bool:
    """A string that looks like a path (a separator or a dot) and exists there."""
    if not isinstance(value, str) or not value.strip() or value in (".", ".."):
        return False
    if "\n" in value or "\0" in value or len(value) > 1024 or not ("/" in value or "." in value):
        return False
    try:
        path = Path(value).expanduser()
        return path.is_file() if path.is_absolute() else (base / path).exists()
    except (OSError, ValueError):
        return False
