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


def resolved_imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports made absolute."""
    package = ["jupyter_inferless", *path.relative_to(PACKAGE).parent.parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1]
            if node.module:
                names.add(".".join([*base, node.module]))
            else:
                names.update(".".join([*base, alias.name]) for alias in node.names)
    return names


def test_each_layer_imports_only_what_it_may():
    broken = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for name in imported_modules(path) & forbidden:
                broken.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not broken


def test_contract_imports_only_itself_and_the_standard_library():
    allowed = sys.stdlib_module_names | {"__future__"}
    broken = []
    for path in sorted((PACKAGE / "contract").rglob("*.py")):
        for name in sorted(resolved_imports(path)):
            if name.split(".")[0] not in allowed and not (
                name == "jupyter_inferless.contract"
                or name.startswith("jupyter_inferless.contract.")
            ):
                broken.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not broken


def modules_loaded_by(imports: str, watched: tuple[str, ...]) -> list[str]:
    """Which of ``watched`` a fresh interpreter has loaded after ``imports``."""
    code = f"import sys, {imports}; print(','.join(m for m in {watched!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return [name for name in result.stdout.strip().split(",") if name]


def test_the_server_side_never_imports_torch_or_ipython():
    imports = "jupyter_inferless, jupyter_inferless.server.app, jupyter_inferless.client"
    assert modules_loaded_by(imports, ("torch", "IPython", "ipykernel")) == []


KERNEL_SIDE = (
    "jupyter_inferless.kernel",
    "jupyter_inferless.kernel.model",
    "jupyter_inferless.kernel.model.model_dir",
    "jupyter_inferless.kernel.runtime",
)


def test_the_server_process_never_loads_the_kernel_side():
    # The model directory loader imports user files and changes sys.path: kernel only.
    imports = "jupyter_inferless, jupyter_inferless.server.app, jupyter_inferless.client"
    assert modules_loaded_by(imports, KERNEL_SIDE) == []


def test_the_contract_loads_neither_side():
    watched = (*KERNEL_SIDE, "jupyter_inferless.server", "jupyter_inferless.widget", "yaml")
    assert modules_loaded_by("jupyter_inferless.contract", watched) == []


def test_importing_the_package_is_cheap():
    assert modules_loaded_by("jupyter_inferless", ("tornado", "IPython", "torch", "zmq")) == []


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
