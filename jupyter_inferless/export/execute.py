"""``jupyter inferless export --execute``: run the notebook in a fresh kernel, then export
from there, as ``%inferless export`` does (the live class, schema and streaming flag).

This is the one way export runs a notebook's code, and only when asked: the cells run up
to the one that serves the model (as ``jupyter nbconvert --execute`` would run them, in the
notebook's folder, with its kernel), then ``%inferless export`` runs in that kernel, which
is then shut down (its models finalized).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .analysis import Analysed
from .cells import notebook_cells
from .errors import ExportError

EXTENSION = "jupyter_inferless"


def export_executed(
    notebook: Path,
    outdir: Path,
    model: str | None = None,
    force: bool = False,
    allow_secrets: bool = False,
    say: Callable[[str], None] = print,
) -> str:
    """Run ``notebook`` up to the cell that serves ``model`` in a fresh kernel, export the
    model there; what the export printed. ``say`` tells, first, that the notebook runs."""
    import nbformat

    try:
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError:  # pragma: no cover - nbclient comes with the package's dependencies
        raise ExportError("--execute needs nbclient: pip install nbclient") from None
    if not notebook.is_file():
        raise ExportError(f"{notebook} does not exist")
    folder = notebook.resolve().parent
    model, site = Analysed(notebook_cells(notebook), notebook.name, folder).choose(model)
    last = site.statement.cell.number
    document = nbformat.read(notebook, as_version=4)
    code = [index for index, cell in enumerate(document.cells) if cell.cell_type == "code"]
    document.cells = document.cells[: code[last - 1] + 1]
    document.cells.append(
        nbformat.v4.new_code_cell(export_cell(model, outdir, force, allow_secrets))
    )
    kernel = (document.metadata.get("kernelspec") or {}).get("name") or "python3"
    say(
        f"executing {notebook.name} in a fresh {kernel} kernel: its code cells 1-{last} run "
        f"now (up to the one that serves {model!r}), then the export runs in that kernel"
    )
    client = NotebookClient(
        document, kernel_name=kernel, resources={"metadata": {"path": str(folder)}}
    )
    try:
        client.execute()
    except CellExecutionError as err:
        raise ExportError(_failure(document.cells, notebook.name, err)) from None
    except Exception as err:  # the kernel did not start, or died
        raise ExportError(f"cannot run {notebook.name}: {type(err).__name__}: {err}") from None
    return _printed(document.cells[-1]).rstrip("\n")


def export_cell(model: str, outdir: Path, force: bool, allow_secrets: bool) -> str:
    """The cell that exports the served model in the kernel: every value ``repr``'d."""
    words = ["export", model, str(outdir.absolute())]
    words += ["--force"] * force + ["--allow-secrets"] * allow_secrets
    return (
        f"get_ipython().extension_manager.load_extension({EXTENSION!r})\n"
        f"get_ipython().run_line_magic({'inferless'!r}, {shlex.join(words)!r})"
    )


def _failure(cells: list[Any], notebook: str, err: Any) -> str:
    """Why the run stopped: the export's refusal, or the cell that failed."""
    ename, evalue = getattr(err, "ename", "Error"), getattr(err, "evalue", str(err))
    code = [cell for cell in cells if cell.cell_type == "code"]
    failed = next(
        (
            number
            for number, cell in enumerate(code, 1)
            if any(output.get("output_type") == "error" for output in cell.get("outputs", []))
        ),
        None,
    )
    if failed == len(code):
        return str(evalue) if ename == "ExportError" else f"the export failed: {ename}: {evalue}"
    where = f" in cell {failed}" if failed else ""
    return f"running {notebook} failed{where}: {ename}: {evalue}; nothing was exported"


def _printed(cell: Any) -> str:
    return "".join(
        output.get("text", "")
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    )
