"""From a notebook (or a kernel's history) to the files of a model directory."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .appfile import render_app, streams
from .cells import Cell, history_cells, notebook_cells
from .closure import Namespace, carry, evaluate, local_files
from .directory import canonical_schema, directory_files
from .errors import ExportError, refusal
from .packages import imported_modules, requirements
from .serving import ServeSite, Target, serve_sites
from .statements import Kind, find_aliases, statements_of
from .writer import ModelFiles, write


@dataclass(frozen=True)
class LiveModel:
    """What a kernel knows of a model it serves."""

    name: str
    class_name: str
    source: str
    """The string "notebook", or the model directory it was loaded from."""
    input_schema: dict[str, Any] | None
    streaming: bool


@dataclass(frozen=True)
class Exported:
    """A model directory written."""

    name: str
    outdir: Path
    files: list[str]
    requirements: list[str]

    def describe(self) -> str:
        """What the command prints."""
        return "\n".join(
            [
                f"exported {self.name!r} to {self.outdir}: {', '.join(self.files)}",
                f"  python packages: {', '.join(self.requirements) or 'none'}",
                f"  run it: jupyter inferless serve {self.outdir} --name {self.name}",
            ]
        )


@dataclass(frozen=True)
class _Resolved:
    """A serve target: a class of the notebook (by the name to carry) or a directory."""

    carry: str | None = None
    class_name: str | None = None
    at: int | None = None
    directory: Path | None = None


class _Notebook:
    """The analysed cells of one notebook or kernel."""

    def __init__(self, cells: list[Cell], origin: str, base: Path) -> None:
        aliases = find_aliases(cells)
        self.statements = statements_of(cells, aliases)
        self.namespace = Namespace(self.statements)
        self.sites = serve_sites(self.statements, aliases)
        self.origin = origin
        self.base = base

    def resolve(self, target: Target, before: int | None, subject: str) -> _Resolved:
        """What a serve statement's target is."""
        name = target.name or target.instance_of
        if target.string is not None:
            if self.namespace.binding(target.string, before) is not None:
                name = target.string
            else:
                path = self.base / Path(target.string).expanduser()
                if path.exists():
                    return _Resolved(directory=path.parent if path.is_file() else path)
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

    def class_of(self, name: str, before: int | None) -> _Resolved:
        """The class a name stands for: itself, or the class of ``name = Model()``."""
        statement = self.namespace.binding(name, before)
        if statement is None:
            return _Resolved(name, name, before)
        node = statement.node
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if isinstance(value, ast.Call) and not value.args and not value.keywords:
            value = value.func if self._is_class(value.func, statement.position) else None
        if isinstance(value, ast.Name) and value.id != name:
            return self.class_of(value.id, statement.position)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _Resolved(name, alias.name.split(".")[-1], before)
        return _Resolved(name, name, before)

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


def export_notebook(
    notebook: Path, outdir: Path, model: str | None = None, force: bool = False
) -> Exported:
    """``jupyter inferless export NOTEBOOK OUTDIR [--model NAME]``."""
    if not notebook.is_file():
        raise ExportError(f"{notebook} does not exist")
    cells = _Notebook(notebook_cells(notebook), notebook.name, notebook.resolve().parent)
    served = cells.served_models()
    if model is None:
        if not served:
            raise ExportError(
                f"{notebook.name} serves no model: it has no `%inferless serve` line and no "
                "jupyter_inferless.serve(...) call"
            )
        if len(served) > 1:
            raise ExportError(
                f"{notebook.name} serves several models ({', '.join(served)}); choose one "
                "with --model NAME"
            )
        model = next(iter(served))
    if model not in served:
        raise ExportError(
            f"{notebook.name} serves no model named {model!r} "
            f"(it serves: {', '.join(served) or 'none'})"
        )
    site = served[model]
    subject = f"{model!r} from {notebook.name}"
    at = site.statement.position
    resolved = cells.resolve(site.target, at, subject)
    schema = streaming = None
    if site.input_schema is not None:
        schema = evaluate(cells.namespace, site.input_schema, at, subject, "input_schema")
    if site.streaming is not None:
        streaming = evaluate(cells.namespace, site.streaming, at, subject, "streaming")
    if resolved.directory is not None:
        files = directory_files(resolved.directory, model, schema, streaming, subject)
    else:
        files = _class_files(cells, resolved, model, schema, streaming, subject)
    return _write(files, outdir, force)


def export_served(
    raw_inputs: list[str], live: LiveModel, outdir: Path, base: Path, force: bool = False
) -> Exported:
    """``%inferless export NAME OUTDIR``: a model this kernel serves, from its history."""
    subject = f"{live.name!r}"
    if live.source != "notebook":
        folder = Path(live.source)
        files = directory_files(folder, live.name, live.input_schema, live.streaming, subject)
        return _write(files, outdir, force)
    cells = _Notebook(history_cells(raw_inputs), "this notebook", base)
    site = cells.served_models().get(live.name)
    at = site.statement.position if site is not None else None
    resolved = cells.class_of(live.class_name, at)
    files = _class_files(cells, resolved, live.name, live.input_schema, live.streaming, subject)
    return _write(files, outdir, force)


def _write(files: ModelFiles, outdir: Path, force: bool) -> Exported:
    written = write(files, outdir, force)
    return Exported(files.name, outdir, written, files.requirements)


def _class_files(
    cells: _Notebook,
    resolved: _Resolved,
    name: str,
    schema: Any,
    streaming: Any,
    subject: str,
) -> ModelFiles:
    """A model class of the notebook, with what it needs."""
    assert resolved.carry is not None
    namespace, at = cells.namespace, resolved.at
    carried = carry(namespace, [(resolved.carry, at)], subject)
    problems = local_files(carried, cells.base)
    if problems:
        raise ExportError(refusal(subject, problems))
    if schema is None and namespace.binding("INPUT_SCHEMA", at) is not None:
        schema = evaluate(namespace, ast.Name("INPUT_SCHEMA"), at, subject, "INPUT_SCHEMA")
    if streaming is None and namespace.binding("IS_STREAMING_OUTPUT", at) is not None:
        flag = ast.Name("IS_STREAMING_OUTPUT")
        streaming = evaluate(namespace, flag, at, subject, "IS_STREAMING_OUTPUT")
    if streaming is None:
        definition = namespace.binding(resolved.carry, at)
        streaming = streams(definition.node if definition else None)
    if streaming is None:
        raise ExportError(
            f"cannot export {subject}: cannot tell whether it streams; "
            "set IS_STREAMING_OUTPUT in the notebook"
        )
    modules = imported_modules(s.node for s in carried.ordered())
    header = f"{name}: exported by `jupyter inferless export` from {cells.origin}."
    return ModelFiles(
        name=name,
        origin=cells.origin,
        app=render_app(carried, resolved.carry, header, subject),
        input_schema=canonical_schema(schema, bool(streaming), subject),
        streaming=bool(streaming),
        requirements=requirements(modules, cells.base, subject),
    )
