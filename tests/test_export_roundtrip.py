"""Export round trips: a model served from a real kernel, exported (by the command line and
by the magic), then served by ``jupyter inferless serve OUTDIR``, streams the same events."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from tests.support.headless_service import headless_service
from tests.support.kernels import NotebookKernel

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "text_generation.ipynb"
SHOUTER = ROOT / "notebooks" / "shouter"
TINY_LM_BODY = {"prompt": "There is a fine house", "max_new_tokens": 40, "seed": 7}


def serving_cells(notebook: Path) -> list[str]:
    """The notebook's code cells up to the one that serves its model."""
    cells = nbformat.read(notebook, as_version=4).cells
    code = [cell.source for cell in cells if cell.cell_type == "code"]
    last = next(i for i, source in enumerate(code) if "%inferless serve" in source)
    return code[: last + 1]


def body_of(text: str) -> str:
    """A written file without its first line (the header naming where it came from)."""
    return text.split("\n", 1)[1]


async def export_with_the_cli(notebook: Path, outdir: Path) -> None:
    command = [sys.executable, "-m", "jupyter_inferless.cli", "export", str(notebook), str(outdir)]
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"exported 'tiny-lm' to {outdir}" in done.stdout


async def test_the_demo_notebook_exports_and_streams_the_same(
    kernel: NotebookKernel, api, tmp_path
):
    for source in serving_cells(NOTEBOOK):
        await kernel.run(source)
    await api.wait_for_model("tiny-lm")
    reference = await api.stream("inferless/v2/models/tiny-lm/generate_stream", TINY_LM_BODY)
    assert reference.status == 200 and len(reference.outputs) == 40

    from_cli, from_kernel = tmp_path / "tiny-lm", tmp_path / "from-kernel"
    await export_with_the_cli(NOTEBOOK, from_cli)
    printed = await kernel.run(f"%inferless export tiny-lm {from_kernel}")
    assert f"exported 'tiny-lm' to {from_kernel}" in printed
    for name in ("app.py", "input_schema.py", "inferless-runtime-config.yaml"):
        cli_text = (from_cli / name).read_text()
        assert body_of(cli_text) == body_of((from_kernel / name).read_text()), name
    app = (from_cli / "app.py").read_text()
    assert "class InferlessPythonModel:" in app and "MAX_NEW_TOKENS = 1024" in app
    assert "Client(" not in app and "view" not in app  # the notebook's scratch cells stay out

    with headless_service(from_cli, tmp_path / "runtime", "--name", "tiny-lm") as service:
        events = await asyncio.to_thread(service.stream, "tiny-lm", TINY_LM_BODY)
    assert [event.json for event in events] == reference.outputs
    assert [event.position for event in events] == [event.position for event in reference.events]


async def test_a_served_model_directory_exports_and_streams_the_same(
    kernel: NotebookKernel, api, tmp_path, jp_root_dir
):
    shutil.copytree(SHOUTER, jp_root_dir / "notebooks" / "shouter")  # the kernel's folder
    await kernel.run("%inferless serve notebooks/shouter --name shouter")
    await api.wait_for_model("shouter")
    body = {"prompt": "There is a fine house in the forest", "upper": True, "pause_ms": 0}
    reference = await api.stream("inferless/v2/models/shouter/generate_stream", body)
    assert reference.outputs[0] == {"generated_text": "THERE "}

    outdir = tmp_path / "shouter-export"
    printed = await kernel.run(f"%inferless export shouter {outdir}")
    assert f"exported 'shouter' to {outdir}" in printed
    assert (outdir / "app.py").read_text() == (SHOUTER / "app.py").read_text()
    config = yaml.safe_load((outdir / "inferless-runtime-config.yaml").read_text())
    assert config == {
        "build": {"cuda_version": "12.4.1", "system_packages": [], "python_packages": []}
    }

    with headless_service(outdir, tmp_path / "runtime", "--name", "shouter") as service:
        events = await asyncio.to_thread(service.stream, "shouter", body)
    assert [event.json for event in events] == reference.outputs


async def test_the_magic_refuses_what_a_model_directory_cannot_carry(
    kernel: NotebookKernel, tmp_path
):
    await kernel.run(
        """
        import jupyter_inferless

        SUFFIX = "!" * int("3")
        """
    )
    await kernel.run(
        """
        class Slip:
            def infer(self, inputs, stream_output_handler):
                stream_output_handler.send_streamed_output({"OUT": inputs["text"] + SUFFIX})
                stream_output_handler.finalise_streamed_output()

        schema = {"text": {"datatype": "STRING", "required": True, "shape": [1]}}
        jupyter_inferless.serve(Slip, name="slip", input_schema=schema, streaming=True)
        """
    )
    refused = await kernel.run(f"%inferless export slip {tmp_path / 'out'}", allow_error=True)
    assert "ExportError" in refused
    assert "the variable 'SUFFIX' is made interactively in In [" in refused
    assert not (tmp_path / "out").exists()
    unknown = await kernel.run(f"%inferless export nope {tmp_path / 'out'}", allow_error=True)
    assert "no model named 'nope' is served by this kernel (served: slip)" in unknown
