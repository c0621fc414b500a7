"""A notebook (or a kernel's history) analysed: its statements, names and serve sites,
and which class or directory each served model is."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from .cells import Cell
from .closure import Namespace
from .errors import ExportError
from .quoting import checked_name, one_line
from .serving import ServeSite, Target, serve_sites
from .statements import Kind, find_aliases, statements_of


@dataclass(frozen=True)
class Resolved:
    """A serve target: a class of the notebook (by the name to carry) or a directory."""

    carry: str | None = None
    class_name: str | None = None
    at: int | None = None
    directory: Path | None = None


class Analysed:
    """The analysed cells of one notebook or kernel."""

    def __init__(self, cells: list[Cell], origin: str, base: Path) -> None:
        aliases = find_aliases(cells)
        self.statements = statements_of(cells, aliases)
        self.namespace = Namespace(self.statements)
        self.sites = serve_sites(self.statements, aliases)
        self.origin = origin
        self.base = base

    def resolve(self, target: Target, before: int | None, subject: str) -> Resolved:
        """What a serve statement's target is."""
        name = target.name or target.instance_of
        if target.string is not None:
            if self.namespace.binding(target.string, before) is not None:
                name = target.string
            else:
                path = self.base / Path(target.string).expanduser()
                if path.exists():
                    return Resolved(directory=path.parent if path.is_file() else path)
                raise ExportError(
                    f"cannot export {subject}: {target.text} is neither a name defined in "
                    f"{self.origin} nor a model directory next to it"
                )
        if name is None:
            raise ExportError(
                f"cannot export {subject}: cannot tell which class `{target.text}` serves; "
                "serve a class by its name"
            )
        return self.class_of(name, before)

    def class_of(self, name: str, before: int | None) -> Resolved:
        """The class a name stands for: itself, or the class of ``name = Model()``."""
        statement = self.namespace.binding(name, before)
        if statement is None:
            return Resolved(name, name, before)
        node = statement.node
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if isinstance(value, ast.Call) and not value.args and not value.keywords:
            value = value.func if self._is_class(value.func, statement.position) else None
        if isinstance(value, ast.Name) and value.id != name:
            return self.class_of(value.id, statement.position)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return Resolved(name, alias.name.split(".")[-1], before)
        return Resolved(name, name, before)

    def _is_class(self, func: ast.expr, before: int) -> bool:
        """Whether ``func()`` makes an instance: ``func`` is a class or an imported name."""
        statement = self.namespace.binding(func.id, before) if isinstance(func, ast.Name) else None
        return statement is not None and (
            isinstance(statement.node, ast.ClassDef) or statement.kind is Kind.IMPORT
        )

    def served_name(self, site: ServeSite) -> str | None:
        """The name a serve statement serves under (as runtime.serve names it)."""
        if site.name:
            return site.name
        try:
            resolved = self.resolve(site.target, site.statement.position, "it")
        except ExportError:
            return None
        if resolved.directory is not None:
            return resolved.directory.name
        return resolved.class_name

    def served_models(self) -> dict[str, ServeSite]:
        """Each served name and its last serve statement, in order of first serving."""
        models: dict[str, ServeSite] = {}
        for site in self.sites:
            name = self.served_name(site)
            if name is not None:
                models[name] = site
        return models

    def choose(self, model: str | None) -> tuple[str, ServeSite]:
        """The served model named ``model`` (or the only one) and its last serve statement;
        its name checked by the model-name rule."""
        served = self.served_models()
        origin, names = one_line(self.origin), one_line(", ".join(served))
        if model is None:
            if not served:
                raise ExportError(
                    f"{origin} serves no model: it has no `%inferless serve` line and no "
                    "jupyter_inferless.serve(...) call"
                )
            if len(served) > 1:
                raise ExportError(
                    f"{origin} serves several models ({names}); choose one with --model NAME"
                )
            model = next(iter(served))
        if model not in served:
            raise ExportError(
                f"{origin} serves no model named {model!r} (it serves: {names or 'none'})"
            )
        checked_name(model, f"{model!r} from {origin}")
        return model, served[model]
