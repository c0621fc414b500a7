"""What a top-level statement binds, reads and changes, by the compiler's own symbol table.

Reading only: the statement is unparsed and handed to :mod:`symtable`, which compiles
nothing and runs nothing.
"""

from __future__ import annotations

import ast
import symtable

MUTATORS = frozenset(
    {"append", "extend", "insert", "remove", "pop", "popitem", "clear", "update",
     "setdefault", "add", "discard", "sort", "reverse", "__setitem__", "__setattr__"}
)  # fmt: skip
"""Methods that change a list, dict or set in place."""

_COMPREHENSIONS = frozenset({"listcomp", "setcomp", "dictcomp", "genexpr"})


def bound_names(node: ast.stmt) -> tuple[str, ...]:
    """The module-level names any statement binds (loops, ``with``, walrus, imports in
    ``try``…), by the compiler's own symbol table."""
    table = _table(node)
    if table is None:
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        return tuple(sorted(n for n in names if _stored(node, n)))
    return tuple(
        sorted(s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported())
    )


def _stored(node: ast.stmt, name: str) -> bool:
    return any(
        isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
        for n in ast.walk(node)
    )


def references(node: ast.stmt) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Global names the statement reads now, reads later (in function bodies), and assigns
    from functions with ``global``."""
    table = _table(node)
    if table is None:
        loaded = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        return frozenset(loaded), frozenset(), frozenset()
    now: set[str] = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    later: set[str] = set()
    assigned: set[str] = set()

    def visit(scope: symtable.SymbolTable, immediate: bool) -> None:
        for child in scope.get_children():
            # Class bodies and comprehensions run at once; function bodies when called.
            runs_now = immediate and (
                child.get_type() == "class" or child.get_name() in _COMPREHENSIONS
            )
            for symbol in child.get_symbols():
                if not symbol.is_global():
                    continue
                if symbol.is_referenced():
                    (now if runs_now else later).add(symbol.get_name())
                if symbol.is_assigned():
                    assigned.add(symbol.get_name())
            visit(child, runs_now)

    visit(table, True)
    return frozenset(now), frozenset(later - now), frozenset(assigned)


def _table(node: ast.stmt) -> symtable.SymbolTable | None:
    try:
        return symtable.symtable(ast.unparse(node), "<cell>", "exec")
    except (SyntaxError, ValueError):
        return None


def mutations(statement: ast.stmt) -> set[str]:
    """Names a statement of work changes in place: ``X[k] = v``, ``X.a = v``, ``del X[k]``,
    ``X.append(v)``, ``setattr(X, …)`` (not inside the functions it defines)."""
    changed: set[str] = set()
    pending: list[ast.AST] = [statement]
    while pending:
        node = pending.pop()
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            targets = [node.target]
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in MUTATORS:
                changed |= _base_name(func.value)
            elif isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and node.args:
                changed |= _base_name(node.args[0])
        for target in targets:
            for item in ast.walk(target):
                if isinstance(item, (ast.Attribute, ast.Subscript)) and isinstance(
                    item.ctx, (ast.Store, ast.Del)
                ):
                    changed |= _base_name(item.value)
        pending.extend(
            child
            for child in ast.iter_child_nodes(node)
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        )
    return changed


def _base_name(node: ast.expr) -> set[str]:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return {node.id} if isinstance(node, ast.Name) else set()
