"""A model directory the notebook serves (its files, pinned packages and merged runtime
config), and INPUT_SCHEMA in the form export writes it."""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import yaml

from ..contract import SchemaError, parse_input_schema
from .appfile import streams
from .credentials import secrets_in
from .errors import ExportError, refusal
from .packages import imported_modules, requirements, third_party
from .quoting import one_line
from .writer import RUNTIME_CONFIG, ModelFiles

SKIPPED_PARTS = frozenset({"__pycache__", ".ipynb_checkpoints", ".git"})
REGENERATED = frozenset({"app.py", "input_schema.py", RUNTIME_CONFIG, "README.md"})


def directory_files(
    folder: Path, name: str, schema: Any, streaming: Any, subject: str, allow_secrets: bool = False
) -> ModelFiles:
    """A model directory the notebook serves: its files, with pinned packages."""
    app = folder / "app.py"
    files = own_files(folder, subject)
    if app not in files:
        raise ExportError(f"cannot export {subject}: {folder.name} has no app.py")
    sources = {path: _parse(path, subject) for path in files if path.suffix == ".py"}
    local = {path.relative_to(folder).parts[0].removesuffix(".py") for path in files}
    modules = imported_modules(sources.values())
    if not allow_secrets:
        units = [
            (str(path.relative_to(folder)), node)
            for path, tree in sources.items()
            for node in tree.body
        ]
        problems = secrets_in(units)
        if problems:
            raise ExportError(refusal(subject, problems))
    declared_schema, declared_streaming = _declared(folder, subject)
    schema = declared_schema if schema is None else schema
    streaming = declared_streaming if streaming is None else streaming
    if streaming is None:
        found = [n for n in sources[app].body if isinstance(n, ast.ClassDef)]
        model = [n for n in found if n.name == "InferlessPythonModel"]
        streaming = streams(model[0] if model else None)
    config = folder / RUNTIME_CONFIG
    build = _build_section(config, subject) if config.is_file() else {}
    return ModelFiles(
        name=name,
        origin=f"the model directory {folder.name}",
        app=app.read_text(encoding="utf-8"),
        input_schema=canonical_schema(schema, bool(streaming), subject),
        streaming=bool(streaming),
        requirements=requirements(third_party(modules, local), folder, subject),
        build=build,
        copies={
            str(path.relative_to(folder)): path
            for path in files
            if str(path.relative_to(folder)) not in REGENERATED
        },
    )


def own_files(folder: Path, subject: str) -> list[Path]:
    """The regular files of a model directory, sorted; refuse it if it holds a symbolic
    link (to a file or a folder, inside it or not): a copy never follows one."""
    files, links = [], []
    for root, folders, names in os.walk(folder):  # does not descend into linked folders
        folders[:] = sorted(name for name in folders if name not in SKIPPED_PARTS)
        for name in [*folders, *names]:
            path = Path(root) / name
            if path.is_symlink():
                links.append(path)
            elif name in names and path.is_file():
                files.append(path)
    if links:
        raise ExportError(refusal(subject, [_link_problem(folder, link) for link in links]))
    return sorted(files)


def _link_problem(folder: Path, link: Path) -> str:
    return (
        f"{one_line(str(link.relative_to(folder)))!r} in {one_line(folder.name)!r} is a "
        f"symbolic link to {one_line(os.readlink(link))!r}; export copies a model "
        "directory's own files and follows no link: put the file itself in the directory"
    )


def _parse(path: Path, subject: str) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError) as err:
        raise ExportError(f"cannot export {subject}: {path.name} is not Python: {err}") from None


def _declared(folder: Path, subject: str) -> tuple[Any, Any]:
    """INPUT_SCHEMA and IS_STREAMING_OUTPUT of input_schema.py, else app.py (literals)."""
    found: dict[str, Any] = {}
    for file in ("app.py", "input_schema.py"):  # input_schema.py wins
        path = folder / file
        if not path.is_file():
            continue
        for node in _parse(path, subject).body:
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in (
                    "INPUT_SCHEMA",
                    "IS_STREAMING_OUTPUT",
                ):
                    try:
                        found[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        raise ExportError(
                            f"cannot export {subject}: {target.id} in {file} is not a literal"
                        ) from None
    return found.get("INPUT_SCHEMA"), found.get("IS_STREAMING_OUTPUT")


def _build_section(path: Path, subject: str) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ExportError(f"cannot export {subject}: {path.name} is not YAML: {err}") from None
    build = config.get("build") if isinstance(config, dict) else None
    return dict(build) if isinstance(build, dict) else {}


def canonical_schema(schema: Any, streaming: bool, subject: str) -> dict[str, dict[str, Any]]:
    """INPUT_SCHEMA checked by the contract's rules, in the form Inferless documents."""
    if schema is None:
        raise ExportError(
            f"cannot export {subject}: it declares no INPUT_SCHEMA, which input_schema.py "
            "needs; define INPUT_SCHEMA or pass input_schema= to serve"
        )
    try:
        parsed = parse_input_schema(schema, streaming=streaming)
    except SchemaError as err:
        raise ExportError(f"cannot export {subject}: {err}") from None
    canonical = {}
    for spec in parsed.inputs:
        entry: dict[str, Any] = {
            "datatype": spec.datatype,
            "required": spec.required,
            "shape": list(spec.shape),
        }
        if spec.example is not None:
            entry["example"] = spec.example
        canonical[spec.name] = entry
    return canonical
