"""From a notebook (or a kernel's history) to the files of a model directory."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analysis import Analysed, Resolved
from .appfile import render_app, streams
from .cells import history_cells, notebook_cells
from .closure import carry, local_files
from .credentials import secrets_in
from .directory import canonical_schema, directory_files
from .errors import ExportError, refusal
from .packages import imported_modules, requirements
from .quoting import checked_name, one_line, shell_word
from .static import read_value
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
                f"  run it: jupyter inferless serve {shell_word(str(self.outdir))} "
                f"--name {self.name}",
            ]
        )


def export_notebook(
    notebook: Path,
    outdir: Path,
    model: str | None = None,
    force: bool = False,
    allow_secrets: bool = False,
) -> Exported:
    """``jupyter inferless export NOTEBOOK OUTDIR [--model NAME]``: read, never run."""
    if not notebook.is_file():
        raise ExportError(f"{notebook} does not exist")
    cells = Analysed(notebook_cells(notebook), notebook.name, notebook.resolve().parent)
    model, site = cells.choose(model)
    subject = f"{model!r} from {one_line(notebook.name)}"
    at = site.statement.position
    resolved = cells.resolve(site.target, at, subject)
    hint = needs_running(model)
    schema = streaming = None
    if site.input_schema is not None:
        schema = read_value(cells.namespace, site.input_schema, at, site.statement, subject,
                            "input_schema", hint)  # fmt: skip
    if site.streaming is not None:
        streaming = read_value(cells.namespace, site.streaming, at, site.statement, subject,
                               "streaming", hint)  # fmt: skip
    if resolved.directory is not None:
        files = directory_files(resolved.directory, model, schema, streaming, subject,
                                allow_secrets)  # fmt: skip
    else:
        files = _class_files(cells, resolved, model, schema, streaming, subject, allow_secrets,
                             hint)  # fmt: skip
    return _write(files, outdir, force)


def needs_running(model: str) -> str:
    """What to do about a value export cannot read without running the notebook."""
    return (
        "export reads a notebook and never runs it: run `%inferless export "
        f"{model} OUTDIR` in the kernel that serves the model (it takes the values the "
        "kernel holds), or pass --execute to `jupyter inferless export` to run the notebook "
        "in a fresh kernel first"
    )


def export_served(
    raw_inputs: list[str],
    live: LiveModel,
    outdir: Path,
    base: Path,
    force: bool = False,
    allow_secrets: bool = False,
) -> Exported:
    """``%inferless export NAME OUTDIR``: a model this kernel serves, from its history and
    the live model's schema and streaming flag."""
    subject = f"{live.name!r}"
    checked_name(live.name, subject)
    if live.source != "notebook":
        folder = Path(live.source)
        files = directory_files(folder, live.name, live.input_schema, live.streaming, subject,
                                allow_secrets)  # fmt: skip
        return _write(files, outdir, force)
    cells = Analysed(history_cells(raw_inputs), "this notebook", base)
    site = cells.served_models().get(live.name)
    at = site.statement.position if site is not None else None
    resolved = cells.class_of(live.class_name, at)
    files = _class_files(cells, resolved, live.name, live.input_schema, live.streaming, subject,
                         allow_secrets)  # fmt: skip
    return _write(files, outdir, force)


def _write(files: ModelFiles, outdir: Path, force: bool) -> Exported:
    written = write(files, outdir, force)
    return Exported(files.name, outdir, written, files.requirements)


def _class_files(
    cells: Analysed,
    resolved: Resolved,
    name: str,
    schema: Any,
    streaming: Any,
    subject: str,
    allow_secrets: bool,
    hint: str | None = None,
) -> ModelFiles:
    """A model class of the notebook, with what it needs. ``hint`` says what to do about a
    value that needs running; without one (a kernel's export) the live values are used."""
    assert resolved.carry is not None
    namespace, at = cells.namespace, resolved.at
    carried = carry(namespace, [(resolved.carry, at)], subject)
    problems = local_files(carried, cells.base)
    if not allow_secrets:
        problems += secrets_in((s.cell.label, s.node) for s in carried.ordered())
    if problems:
        raise ExportError(refusal(subject, problems))
    if hint is not None and schema is None and namespace.binding("INPUT_SCHEMA", at):
        name_node = ast.Name("INPUT_SCHEMA")
        schema = read_value(namespace, name_node, at, None, subject, "INPUT_SCHEMA", hint)
    if hint is not None and streaming is None and namespace.binding("IS_STREAMING_OUTPUT", at):
        flag = ast.Name("IS_STREAMING_OUTPUT")
        streaming = read_value(namespace, flag, at, None, subject, "IS_STREAMING_OUTPUT", hint)
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
