"""The Python packages the model imports, pinned to the versions installed here.

Import names map to distributions with :func:`importlib.metadata.packages_distributions`
(``yaml`` → PyYAML), or by name for installs it does not map (editable ones). The standard
library stays out. A local version label (``2.3.0+cpu``) names a build index rather than
a release on PyPI, so it is dropped.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

from .errors import ExportError, refusal

STDLIB = frozenset(sys.stdlib_module_names) | {"__future__", "__main__"}


def imported_modules(nodes: Iterable[ast.AST]) -> set[str]:
    """The top-level names of the modules imported anywhere in ``nodes`` (absolute
    imports only)."""
    found: set[str] = set()
    for tree in nodes:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def third_party(modules: Iterable[str], local: Iterable[str] = ()) -> list[str]:
    """The modules neither in the standard library nor in ``local``, sorted."""
    return sorted(set(modules) - STDLIB - set(local))


def requirements(modules: Iterable[str], base: Path, subject: str) -> list[str]:
    """``dist==version`` for each third-party module; refuse local and unknown modules."""
    mapping = metadata.packages_distributions()
    pins: set[str] = set()
    problems = []
    for module in third_party(modules):
        names = mapping.get(module) or _by_name(module)
        if names:
            pins |= {pin(name) for name in names}
        elif (base / f"{module}.py").is_file() or (base / module).is_dir():
            problems.append(
                f"the module {module!r} is a local file next to the notebook, not an installed "
                "package; export carries the notebook's code only"
            )
        elif importlib.util.find_spec(module) is None:
            problems.append(f"the module {module!r} is not installed here, so it cannot be pinned")
        else:
            problems.append(
                f"the module {module!r} belongs to no installed distribution, so it cannot be "
                "pinned"
            )
    if problems:
        raise ExportError(refusal(subject, problems))
    return sorted(pins, key=str.lower)


def _by_name(module: str) -> list[str]:
    try:
        return [metadata.distribution(module).metadata["Name"]]
    except metadata.PackageNotFoundError:
        return []


def pin(distribution: str) -> str:
    """``Name==version`` of an installed distribution, without a local version label."""
    found = metadata.distribution(distribution)
    return f"{found.metadata['Name']}=={release(found.version)}"


def release(version: str) -> str:
    """``2.3.0+cpu`` → ``2.3.0``."""
    return version.split("+", 1)[0]


def requirement_name(requirement: str) -> str:
    """The normalised distribution name of a requirement line (``Foo_Bar>=1`` → foo-bar)."""
    name = requirement
    for separator in "=<>!~[;@ ":
        name = name.split(separator, 1)[0]
    return name.strip().lower().replace("_", "-").replace(".", "-")
