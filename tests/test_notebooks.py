"""Every notebook in notebooks/ runs top to bottom in a kernel of a real server with the extension.

The notebooks are copied into the server's root directory and executed with nbclient in a
kernel the server started, so the extension links to it: the inline views stream over the
kernel's link, and the notebooks' own HTTP calls (curl, the client) reach the server's real
endpoints with the token the test puts in ``$JUPYTER_TOKEN``, as a user gives one to the
kernels (the server hands them none).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.kernels import output_text

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

EXPECTED: dict[str, list[str]] = {
    "text_generation.ipynb": [
        "serving 'tiny-lm' (InferlessPythonModel, streaming) on",
        "/inferless/v2/models/tiny-lm/generate_stream",
        'data: {"OUT":',
        ":7\ndata: {",  # the 8th event's id, RID:7
    ],
    "model_directory.ipynb": [
        "serving 'shouter' (InferlessPythonModel, streaming) on",
        "CUDA requested by the runtime config: 12.1.1",
        "a required input is missing: 400 missing required input 'prompt'",
        "a value has the wrong type: 400 input 'pause_ms' (INT32)",
        "an input the schema does not have: 400 unknown input 'loud'",
        "THERE IS A FINE HOUSE IN THE FOREST ",
        "{'generated_text': 'There '}",
        "stopped 'shouter'",
    ],
    "hf_generation.ipynb": [
        "serving 'tiny-gpt2' (InferlessPythonModel, streaming) on",
        "the stream ended: cancelled",
        "tokens of the 1000 asked for",
        "cancelled after",
    ],
    "progressive_results.ipynb": [
        "serving 'monte-carlo-pi' (InferlessPythonModel, streaming) on",
        "step   estimate      error",
        "  10  ",
        "received: [{'step': 1, 'estimate': ",
        "error: OutputError: event 1: output key 'estimate' changed from number to string",
    ],
}
"""Text each notebook's outputs must contain, besides having no errors."""

INLINE_VIEWS = {
    "text_generation.ipynb": 2,
    "model_directory.ipynb": 1,
    "progressive_results.ipynb": 2,
    "hf_generation.ipynb": 2,
}
"""How many cells of each notebook show an inline stream view."""


def notebook_names() -> list[str]:
    return sorted(path.name for path in NOTEBOOKS.glob("*.ipynb"))


def cell_text(cell: Any) -> str:
    """Everything a code cell printed or displayed as text, errors included."""
    texts = (output_text(output["output_type"], output) for output in cell.get("outputs", []))
    return "".join(text for text in texts if text is not None)


async def execute(serverapp: Any, root: Path, name: str) -> Any:
    """Run one notebook in a kernel the server starts in a copy of notebooks/; return it."""
    folder = root / "notebooks"
    shutil.copytree(NOTEBOOKS, folder, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_*"))
    notebook = nbformat.read(folder / name, as_version=4)
    manager = serverapp.kernel_manager
    kernel_id = await manager.start_kernel(path="notebooks")
    runner = NotebookClient(
        notebook,
        km=manager.get_kernel(kernel_id),
        timeout=120,
        resources={"metadata": {"path": str(folder)}},
    )
    try:
        await runner.async_execute()
    finally:
        if runner.kc is not None:
            runner.kc.stop_channels()
        await manager.shutdown_kernel(kernel_id, now=True)
    return notebook


def test_every_notebook_is_checked():
    assert notebook_names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", notebook_names())
def test_notebooks_are_saved_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source


@pytest.mark.parametrize("name", notebook_names())
async def test_a_notebook_runs_top_to_bottom(
    name, jp_serverapp, http_server_client, jp_root_dir, monkeypatch
):
    # http_server_client makes the server listen: the notebooks call it over HTTP, with the
    # token their kernel inherits from the environment (connection() reads it).
    monkeypatch.setenv("JUPYTER_TOKEN", jp_serverapp.identity_provider.token)
    notebook = await execute(jp_serverapp, jp_root_dir, name)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [
        cell_text(cell)
        for cell in code_cells
        if any(output["output_type"] == "error" for output in cell.outputs)
    ]
    assert not errors, "\n\n".join(errors)
    text = "\n".join(cell_text(cell) for cell in code_cells)
    missing = [expected for expected in EXPECTED.get(name, []) if expected not in text]
    assert not missing, f"{missing} not in the outputs of {name}:\n{text}"
    assert "IOPub" not in text, text  # never "IOPub message rate exceeded" because of us
    views = [
        cell.source
        for cell in code_cells
        if any(WIDGET_VIEW in output.get("data", {}) for output in cell.outputs)
    ]
    assert len(views) == INLINE_VIEWS.get(name, 0), views
