"""The package's layering rules, and a public API that stays cheap to import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import jupyter_inferless

PACKAGE = Path(jupyter_inferless.__file__).parent
FORBIDDEN = {
    "contract": {"tornado", "jupyter_server", "jupyter_client", "IPython", "ipykernel", "zmq"},
    "kernel": {"tornado", "jupyter_server"},
    "server": {"IPython", "ipykernel", "torch"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_each_layer_imports_only_what_it_may():
    broken = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((PACKAGE / layer).glob("*.py")):
            for name in imported_modules(path) & forbidden:
                broken.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not broken


def test_the_server_side_never_imports_torch_or_ipython():
    code = (
        "import sys, jupyter_inferless, jupyter_inferless.server.app, jupyter_inferless.client;"
        "print(sorted(m for m in ('torch', 'IPython', 'ipykernel') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_importing_the_package_is_cheap():
    code = (
        "import sys, jupyter_inferless;"
        "print(sorted(m for m in ('tornado', 'IPython', 'torch', 'zmq') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_all_names_the_public_api():
    for name in jupyter_inferless.__all__:
        assert hasattr(jupyter_inferless, name), name
    public = {
        name
        for name, value in vars(jupyter_inferless).items()
        if not name.startswith("_")
        and callable(value)
        and getattr(value, "__module__", "").startswith("jupyter_inferless")
    }
    assert public <= set(jupyter_inferless.__all__), public - set(jupyter_inferless.__all__)
