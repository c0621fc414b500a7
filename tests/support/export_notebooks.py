"""Notebooks for the export tests: cells of a small streaming model, and a writer."""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest

from jupyter_inferless.export import ExportError, export_notebook

SCHEMA = """
INPUT_SCHEMA = {"text": {"datatype": "STRING", "required": True, "shape": [1], "example": ["hi"]}}
IS_STREAMING_OUTPUT = True
"""
MODEL = """
class Echo:
    def infer(self, inputs, stream_output_handler):
        stream_output_handler.send_streamed_output({"OUT": decorate(inputs["text"])})
        stream_output_handler.finalise_streamed_output()
"""
DECORATE = """
def decorate(text):
    return text + SUFFIX
"""
SERVE = "%inferless serve Echo --name echo"


def notebook(folder: Path, *cells: str, name: str = "model.ipynb") -> Path:
    """A notebook of these code cells (dedented), and a markdown cell first."""
    path = folder / name
    code = [nbformat.v4.new_code_cell(textwrap.dedent(cell).strip()) for cell in cells]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A model"), *code])
    nbformat.write(nb, path)
    return path


def export(path: Path, model: str | None = None, allow_secrets: bool = False) -> Path:
    """Export into ``exported`` next to the notebook; the directory."""
    outdir = path.parent / "exported"
    export_notebook(path, outdir, model, allow_secrets=allow_secrets)
    return outdir


def refusal(path: Path, model: str | None = None) -> str:
    """The message of the export's refusal (nothing is written)."""
    with pytest.raises(ExportError) as raised:
        export(path, model)
    assert not (path.parent / "exported").exists()
    return str(raised.value)
