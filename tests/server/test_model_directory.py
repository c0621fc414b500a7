"""An Inferless model directory (app.py, input_schema.py, runtime config) serves as is."""

from __future__ import annotations

import textwrap
from pathlib import Path

APP = """
import json
from helper import shout

class InferlessPythonModel:
    def initialize(self):
        self.calls = 0

    def infer(self, inputs, stream_output_handler):
        options = json.loads(inputs.get("options", "{}"))
        for word in inputs["prompt"].split():
            stream_output_handler.send_streamed_output({"generated_text": shout(word, options)})
        stream_output_handler.finalise_streamed_output()

    def finalize(self, args):
        self.calls = None
"""

INPUT_SCHEMA = """
INPUT_SCHEMA = {
    "prompt": {"datatype": "STRING", "required": True, "shape": [1], "example": ["a b"]},
    "options": {"datatype": "STRING", "required": False, "shape": [1], "example": ["{}"]},
}
IS_STREAMING_OUTPUT = True
"""

HELPER = """
def shout(word, options):
    return word.upper() if options.get("upper") else word
"""

RUNTIME_CONFIG = """
build:
  cuda_version: "12.1.1"
  system_packages: ["libgl1"]
  python_packages: ["accelerate==0.30.0"]
  run: ["echo ready"]
  gpu_type: "A100"
"""


def make_model_directory(root: Path) -> Path:
    folder = root / "shouter"
    folder.mkdir()
    for name, text in {
        "app.py": APP,
        "input_schema.py": INPUT_SCHEMA,
        "helper.py": HELPER,
        "inferless-runtime-config.yaml": RUNTIME_CONFIG,
    }.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


async def test_a_model_directory_serves(kernel, api, tmp_path):
    folder = make_model_directory(tmp_path)
    output = await kernel.run(f"%inferless serve {folder}")
    assert "serving 'shouter' (InferlessPythonModel, streaming)" in output
    assert "unknown key build.gpu_type" in output
    assert "CUDA requested by the runtime config: 12.1.1; this kernel: none (CPU)" in output
    await api.wait_for_model("shouter")
    result = await api.stream(
        "inferless/v2/models/shouter/generate_stream",
        {"prompt": "fine house", "options": '{"upper": true}'},
    )
    assert result.outputs == [{"generated_text": "FINE"}, {"generated_text": "HOUSE"}]
    _, listing = await api.call("inferless/api/models")
    assert listing["models"][0]["source"] == str(folder)


async def test_app_py_path_with_a_name_serves_and_stop_finalizes(kernel, api, tmp_path):
    folder = make_model_directory(tmp_path)
    await kernel.run(
        f"import jupyter_inferless; jupyter_inferless.serve('{folder / 'app.py'}', name='s2')"
    )
    await api.wait_for_model("s2")
    await kernel.run(
        "from jupyter_inferless.kernel import Runtime\n"
        "model = Runtime.current().models['s2'].adapter.instance\n"
        "jupyter_inferless.stop('s2')\n"
        "assert model.calls is None, 'finalize(args) should have run'"
    )
    await api.wait_for_model("s2", present=False)


async def test_a_broken_directory_explains_itself(kernel, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    output = await kernel.run(f"%inferless serve {folder}", allow_error=True)
    assert "has no app.py" in output
