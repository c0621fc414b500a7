"""An Inferless model directory: app.py, input_schema.py, inferless-runtime-config.yaml."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from ...contract.errors import ModelContractError

RUNTIME_CONFIG = "inferless-runtime-config.yaml"
BUILD_KEYS = frozenset({"cuda_version", "system_packages", "python_packages", "run"})
LIST_KEYS = ("system_packages", "python_packages", "run")


class RuntimeConfigWarning(UserWarning):
    """inferless-runtime-config.yaml has something this tool does not know."""


@dataclass
class ModelDirectory:
    """What a model directory declares."""

    path: Path
    model_class: type
    input_schema: dict[str, Any] | None
    streaming: bool | None
    runtime_config: dict[str, Any] = field(default_factory=dict)

    @property
    def cuda_version(self) -> str | None:
        """The CUDA version the runtime config asks for, if any."""
        value = self.runtime_config.get("build", {}).get("cuda_version")
        return None if value is None else str(value)


def load_model_directory(target: str | Path) -> ModelDirectory:
    """Import a model directory (or its app.py) and read what it declares."""
    path = Path(target).expanduser().resolve()
    folder = path.parent if path.is_file() else path
    app_path = path if path.is_file() else folder / "app.py"
    if not app_path.is_file():
        raise ModelContractError(f"{folder} has no app.py; a model directory needs one")
    app = _import(app_path)
    model_class = getattr(app, "InferlessPythonModel", None)
    if model_class is None:
        raise ModelContractError(f"{app_path} defines no class InferlessPythonModel")
    schema_path = folder / "input_schema.py"
    schema_module = _import(schema_path) if schema_path.is_file() else app
    input_schema = getattr(schema_module, "INPUT_SCHEMA", getattr(app, "INPUT_SCHEMA", None))
    streaming = getattr(
        schema_module, "IS_STREAMING_OUTPUT", getattr(app, "IS_STREAMING_OUTPUT", None)
    )
    config_path = folder / RUNTIME_CONFIG
    config = read_runtime_config(config_path) if config_path.is_file() else {}
    return ModelDirectory(folder, model_class, input_schema, streaming, config)


def read_runtime_config(path: Path) -> dict[str, Any]:
    """Read inferless-runtime-config.yaml, checking the keys under ``build``."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ModelContractError(f"{path.name} is not valid YAML: {err}") from None
    if not isinstance(config, dict):
        raise ModelContractError(f"{path.name} must hold a mapping with a 'build' section")
    build = config.get("build") or {}
    if not isinstance(build, dict):
        raise ModelContractError(f"{path.name}: 'build' must be a mapping")
    for key in sorted(set(config) - {"build"}):
        warnings.warn(
            f"{path.name}: unknown top-level key {key!r}", RuntimeConfigWarning, stacklevel=2
        )
    for key in sorted(set(build) - BUILD_KEYS):
        warnings.warn(
            f"{path.name}: unknown key build.{key} (known: {', '.join(sorted(BUILD_KEYS))})",
            RuntimeConfigWarning,
            stacklevel=2,
        )
    for key in LIST_KEYS:
        value = build.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(item, str) for item in value)
        ):
            raise ModelContractError(f"{path.name}: build.{key} must be a list of strings")
    config["build"] = build
    return config


def _import(path: Path) -> ModuleType:
    """Import a file under a unique module name, its folder importable meanwhile."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    name = f"inferless_model_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelContractError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module
