"""What a serve target names: a model in the notebook, or a model directory on disk."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .adapter import ModelAdapter
from .model_dir import load_model_directory


@dataclass(frozen=True)
class Resolved:
    """A serve target resolved to a model and what it declares."""

    target: Any
    input_schema: Any
    streaming: Any
    source: str
    cuda_requested: str | None = None


def resolve(target: Any, namespace: dict[str, Any]) -> Resolved:
    """The model object, what it declares, and where it came from."""
    if isinstance(target, (str, Path)):
        if isinstance(target, str) and target in namespace:
            target = namespace[target]
        elif Path(target).expanduser().exists():
            found = load_model_directory(target)
            return Resolved(
                found.model_class,
                found.input_schema,
                found.streaming,
                str(found.path),
                found.cuda_version,
            )
        else:
            raise NameError(f"{target!r} is neither a name in the notebook nor a model directory")
    scope = _scope_of(target, namespace)
    schema = scope.get("INPUT_SCHEMA", namespace.get("INPUT_SCHEMA"))
    streaming = scope.get("IS_STREAMING_OUTPUT", namespace.get("IS_STREAMING_OUTPUT"))
    return Resolved(target, schema, streaming, "notebook")


def _scope_of(target: Any, namespace: dict[str, Any]) -> dict[str, Any]:
    cls = target if isinstance(target, type) else type(target)
    module = sys.modules.get(cls.__module__)
    if module is None or cls.__module__ == "__main__":
        return namespace
    return vars(module)


def default_name(target: Any, adapter: ModelAdapter) -> str:
    """A model directory is named after its folder, anything else after its class."""
    if isinstance(target, (str, Path)) and Path(target).expanduser().exists():
        path = Path(target).expanduser().resolve()
        return (path.parent if path.is_file() else path).name
    return adapter.class_name
