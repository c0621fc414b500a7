"""app.py from the carried statements: imports first, then the definitions in the order
they ran, and ``InferlessPythonModel`` bound to the served class."""

from __future__ import annotations

import ast
import copy
import keyword

from .closure import Carried
from .errors import ExportError
from .quoting import docstring
from .statements import Kind, Statement

MODEL_CLASS = "InferlessPythonModel"


def render_app(carried: Carried, served: str, header: str, subject: str) -> str:
    """The text of app.py; ``served`` is the notebook name of the served class, ``header``
    the text of its docstring (escaped here)."""
    statements = carried.ordered()
    imports = [s for s in statements if s.kind is Kind.IMPORT]
    others = [s for s in statements if s.kind is not Kind.IMPORT]
    imported = {name for s in imports for name in carried.names[s.position]}
    if imported & {name for s in others for name in s.binds}:
        imports, others = [], statements  # a name is both imported and defined: keep the order
    imports.sort(key=lambda s: not _is_future(s))
    blocks = []
    if imports:
        blocks.append("\n".join(import_text(s, carried.names[s.position]) for s in imports))
    blocks += [
        import_text(s, carried.names[s.position]) if s.kind is Kind.IMPORT else s.text.rstrip()
        for s in others
    ]
    if not served.isidentifier() or keyword.iskeyword(served):
        raise ExportError(f"cannot export {subject}: {served!r} is not a class name")
    if served != MODEL_CLASS:
        if any(MODEL_CLASS in s.binds for s in statements):
            raise ExportError(
                f"cannot export {subject}: app.py must name the served class {served!r} "
                f"{MODEL_CLASS}, but the model's code uses another {MODEL_CLASS}"
            )
        blocks.append(f"# Inferless loads the class {MODEL_CLASS}.\n{MODEL_CLASS} = {served}")
    return docstring(header) + "\n\n" + "\n\n\n".join(blocks) + "\n"


def import_text(statement: Statement, needed: set[str]) -> str:
    """An import statement reduced to the names the model needs."""
    node = copy.deepcopy(statement.node)
    assert isinstance(node, (ast.Import, ast.ImportFrom))
    kept = [alias for alias in node.names if _bound(alias) in needed or alias.name == "*"]
    node.names = kept or node.names
    return ast.unparse(node)


def _bound(alias: ast.alias) -> str:
    return alias.asname or alias.name.split(".")[0]


def _is_future(statement: Statement) -> bool:
    node = statement.node
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def streams(carried_class: ast.stmt | None) -> bool | None:
    """Whether a class's ``infer`` takes a stream_output_handler (None: cannot tell)."""
    if not isinstance(carried_class, ast.ClassDef):
        return None
    for node in carried_class.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "infer":
            positional = [*node.args.posonlyargs, *node.args.args]
            return len(positional) >= 3 or node.args.vararg is not None
    return None
