"""A model directory the notebook serves (its files, pinned packages and merged runtime
config), and INPUT_SCHEMA in the form export writes it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import yaml

from ..contract import SchemaError, parse_input_schema
from .appfile import streams
from .errors import ExportError
from .packages import imported_modules, requirements, third_party
from .writer import RUNTIME_CONFIG, ModelFiles

SKIPPED_PARTS = frozenset({"__pycache__", ".ipynb_checkpoints", ".git"})
REGENERATED = frozenset({"app.py", "input_schema.py", RUNTIME_CONFIG, "README.md"})


def directory_files(
    folder: Path, name: str, schema: Any, streaming: Any, subject: str
) -> ModelFiles:
    """A model directory the notebook serves: its files, with pinned packages."""
    app = folder / "app.py"
    if not app.is_file():
        raise ExportError(f"cannot export {subject}: {folder.name} has no app.py")
    files = [
        path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not SKIPPED_PARTS & set(path.relative_to(folder).parts)
    ]
    sources = [path for path in files if path.suffix == ".py"]
    local = {path.relative_to(folder).parts[0].removesuffix(".py") for path in files}
    modules = imported_modules(_parse(path, subject) for path in sources)
    declared_schema, declared_streaming = _declared(folder, subject)
    schema = declared_schema if schema is None else schema
    streaming = declared_streaming if streaming is None else streaming
    if streaming is None:
        found = [n for n in _parse(app, subject).body if isinstance(n, ast.ClassDef)]
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
