"""ARCHITECTURE.md's module map is the tree: every module it names exists, and every
module of the package has its row."""

from __future__ import annotations

import re
from pathlib import Path

import jupyter_inferless

PACKAGE = Path(jupyter_inferless.__file__).parent
ARCHITECTURE = PACKAGE.parent / "ARCHITECTURE.md"
ROW = re.compile(r"^\| `(?P<path>[^`]+)` \|")


def mapped_modules(text: str) -> list[str]:
    """The first column of the "Module map" table: one module path per row."""
    section = text.split("### Module map", 1)[1].split("\n#", 1)[0]
    return [match["path"] for line in section.splitlines() if (match := ROW.match(line))]


def package_modules() -> set[str]:
    """Every module of the package, by its path in it; a subpackage's ``__init__.py``
    counts when it holds more than its docstring."""
    modules = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if path.name == "__init__.py" and relative.parent != Path("."):
            body = [line for line in path.read_text().splitlines() if line.strip()]
            if len(body) <= 1 or all(line.startswith(('"""', "#")) for line in body):
                continue
        modules.add(relative.as_posix())
    return modules


def test_the_map_names_each_module_once():
    named = mapped_modules(ARCHITECTURE.read_text())
    assert len(named) == len(set(named)), sorted({n for n in named if named.count(n) > 1})


def test_every_module_named_exists():
    missing = sorted(set(mapped_modules(ARCHITECTURE.read_text())) - package_modules())
    assert missing == [], f"ARCHITECTURE.md names modules that do not exist: {missing}"


def test_every_module_is_on_the_map():
    unmapped = sorted(package_modules() - set(mapped_modules(ARCHITECTURE.read_text())))
    assert unmapped == [], f"modules missing from ARCHITECTURE.md's map: {unmapped}"


def test_the_row_reader_reads_rows():
    rows = "| module | job |\n|---|---|\n| `a/b.py` | x |\n| `c.py` | y |"
    text = f"### Module map\n\n{rows}\n\n## Next"
    assert mapped_modules(text) == ["a/b.py", "c.py"]
