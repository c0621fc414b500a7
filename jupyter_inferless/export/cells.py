"""Where the code comes from: a notebook's code cells, or a kernel's input history.

Each cell is turned into plain Python with IPython's own input transformer, so magics
(``%inferless serve …``) and shell escapes (``!ls``) become ``get_ipython()`` calls that
the analysis recognises and skips.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import ExportError


@dataclass(frozen=True)
class Cell:
    """One executed cell: how messages name it, and its code as Python."""

    label: str
    python: str
    tree: ast.Module | None
    """None when the cell is not valid Python (it ran nothing)."""
    number: int = 0
    """Its number: among the notebook's code cells (from 1), or in the kernel's history."""


def to_python(source: str) -> str:
    """A cell's source with IPython syntax (magics, ``!cmd``) turned into Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    return str(TransformerManager().transform_cell(source))


def make_cell(label: str, source: str, number: int = 0) -> Cell:
    """Transform and parse one cell."""
    python = to_python(source)
    try:
        tree: ast.Module | None = ast.parse(python)
    except SyntaxError:
        tree = None
    return Cell(label, python, tree, number)


def notebook_cells(path: Path) -> list[Cell]:
    """The code cells of a notebook, in order, labelled "cell N" (N counts code cells)."""
    import nbformat

    try:
        notebook = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as err:
        raise ExportError(f"cannot read the notebook {path.name}: {err}") from None
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    return [make_cell(f"cell {number}", source, number) for number, source in enumerate(sources, 1)]


def history_cells(raw_inputs: Iterable[str]) -> list[Cell]:
    """A kernel's input history (``In``/``_ih``, raw), labelled "In [N]"; entry 0 is empty."""
    return [
        make_cell(f"In [{number}]", source, number)
        for number, source in enumerate(raw_inputs)
        if number and source.strip()
    ]
