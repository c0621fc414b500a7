"""Write the model directory: app.py, input_schema.py, inferless-runtime-config.yaml and
a README.md, plus the files of a source model directory."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ExportError
from .packages import requirement_name
from .quoting import docstring, one_line, shell_word

RUNTIME_CONFIG = "inferless-runtime-config.yaml"
STREAMING_CUDA = "12.4.1"
"""The CUDA version Inferless asks streaming models to build with."""
WRITTEN = ("app.py", "input_schema.py", RUNTIME_CONFIG, "README.md")


@dataclass(frozen=True)
class ModelFiles:
    """Everything an exported model directory holds."""

    name: str
    """The name the model was served under."""
    origin: str
    """Where it came from, for the files' headers: a notebook's or a folder's name."""
    app: str
    input_schema: dict[str, dict[str, Any]]
    streaming: bool
    requirements: list[str]
    build: dict[str, Any] = field(default_factory=dict)
    """The ``build`` section of the source directory's runtime config, if any."""
    copies: dict[str, Path] = field(default_factory=dict)
    """Files of a source model directory: relative path → the file."""


def write(files: ModelFiles, outdir: Path, force: bool = False) -> list[str]:
    """Write the directory; the relative paths written, in order."""
    if outdir.exists() and not outdir.is_dir():
        raise ExportError(f"{outdir} exists and is not a directory")
    if outdir.is_dir() and any(outdir.iterdir()) and not force:
        raise ExportError(
            f"{outdir} exists and is not empty; choose a new directory or write over it "
            "with --force"
        )
    texts = {
        "app.py": files.app,
        "input_schema.py": render_input_schema(files),
        RUNTIME_CONFIG: render_runtime_config(files),
        "README.md": render_readme(files, outdir.name),
    }
    for relative in [*files.copies, *texts]:
        _no_link_on_the_way(outdir, relative)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for relative, source in sorted(files.copies.items()):
        target = outdir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target, follow_symlinks=False)
        written.append(relative)
    for relative, text in texts.items():
        (outdir / relative).write_text(text, encoding="utf-8")
        if relative not in written:
            written.append(relative)
    return written


def _no_link_on_the_way(outdir: Path, relative: str) -> None:
    """Refuse to write through a symbolic link already in OUTDIR (``--force``)."""
    current = outdir
    for part in Path(relative).parts:
        current = current / part
        if current.is_symlink():
            raise ExportError(
                f"{outdir} holds a symbolic link {one_line(str(current.relative_to(outdir)))!r}; "
                "export writes no file through a link: remove it or choose a new directory"
            )


def render_input_schema(files: ModelFiles) -> str:
    """input_schema.py: INPUT_SCHEMA and IS_STREAMING_OUTPUT, as Inferless reads them."""
    lines = [docstring(f"The inputs of {files.name}, exported from {files.origin}."), ""]
    if files.input_schema:
        lines.append("INPUT_SCHEMA = {")
        lines += [f"    {literal(k)}: {literal(v)}," for k, v in files.input_schema.items()]
        lines.append("}")
    else:
        lines.append("INPUT_SCHEMA = {}")
    lines += [f"IS_STREAMING_OUTPUT = {files.streaming!r}", ""]
    return "\n".join(lines)


def literal(value: Any) -> str:
    """Python source for a JSON-like value, strings in double quotes (a JSON string is a
    Python string literal of the same value)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise ExportError(f"input_schema.py cannot hold the value {one_line(repr(value))[:80]}")


def runtime_config(files: ModelFiles) -> dict[str, Any]:
    """The runtime config: the source's build section, pinned packages added, and the
    CUDA version streaming needs."""
    source = dict(files.build)
    declared = list(source.pop("python_packages", None) or [])
    named = {requirement_name(line) for line in declared}
    packages = declared + [
        line for line in files.requirements if requirement_name(line) not in named
    ]
    cuda = source.pop("cuda_version", None)
    build: dict[str, Any] = {}
    if files.streaming or cuda is not None:
        build["cuda_version"] = STREAMING_CUDA if files.streaming else str(cuda)
    build["system_packages"] = list(source.pop("system_packages", None) or [])
    build["python_packages"] = packages
    build.update(source)
    return {"build": build}


def render_runtime_config(files: ModelFiles) -> str:
    """inferless-runtime-config.yaml."""
    header = f"# The runtime of {files.name}, exported from {one_line(files.origin)}.\n"
    return header + yaml.safe_dump(runtime_config(files), sort_keys=False, default_flow_style=False)


def render_readme(files: ModelFiles, folder: str) -> str:
    """README.md: what the directory is, how to run it locally, its inputs."""
    kind = "streaming" if files.streaming else "non-streaming"
    endpoint = "generate_stream" if files.streaming else "infer"
    rows = [
        f"| `{one_line(name)}` | {spec['datatype']} | {spec['shape']} | "
        f"{'yes' if spec.get('required', True) else 'no'} | "
        f"{'' if spec.get('example') is None else '`' + json.dumps(spec['example']) + '`'} |"
        for name, spec in files.input_schema.items()
    ]
    packages = ", ".join(f"`{line}`" for line in runtime_config(files)["build"]["python_packages"])
    lines = [
        f"# {files.name}",
        "",
        f"An [Inferless](https://docs.inferless.com) model directory for the {kind} model "
        f"`{files.name}`, exported by `jupyter inferless export` from {one_line(files.origin)}.",
        "",
        "- `app.py`: class `InferlessPythonModel` (`initialize`, `infer`, `finalize`) with the "
        "code it needs;",
        "- `input_schema.py`: `INPUT_SCHEMA` and `IS_STREAMING_OUTPUT`;",
        f"- `{RUNTIME_CONFIG}`: the Python packages the model imports, pinned to the versions "
        f"it was exported with ({packages or 'none'})"
        + (f", and CUDA {STREAMING_CUDA} for streaming." if files.streaming else "."),
        "",
        "## Run it locally",
        "",
        "From the folder that holds this directory, with jupyter_inferless installed:",
        "",
        "```bash",
        f"jupyter inferless serve {shell_word(folder)} --name {files.name}",
        "```",
        "",
        f"It prints the endpoint (`POST …/inferless/v2/models/{files.name}/{endpoint}`) and a "
        "ready-to-paste `curl` line with the server's token.",
        "",
        "## Inputs",
        "",
    ]
    if rows:
        lines += ["| input | datatype | shape | required | example |", "|---|---|---|---|---|"]
        lines += rows
    else:
        lines.append("None declared.")
    return "\n".join([*lines, ""])
