"""Schemathesis against a real server, every check: no 5xx, no answer the OpenAPI document
denies, every request the document allows is served and every one it denies is refused.

The schemathesis command line runs in a subprocess (the server answers on this test's
event loop meanwhile), over the examples, coverage and fuzzing phases with a bounded number
of examples, authenticated with the token. The models: a counter-style streaming model
(STRING, INT8, INT64, BOOL), the text_generation notebook's tiny character model with its
INPUT_SCHEMA (its runs cut to a few characters), and two non-streaming models of v2
tensors (FP16 [-1], UINT8 [2, 2], STRING; and fixed shapes only). The server runs with its
defaults (a 15 s heartbeat) and schemathesis with its own (its request timeout): every
stream answers within a second.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.support.models import CHAT, TENSOR, Model, spec

pytest.importorskip("torch", reason="the tiny character model needs torch")

LEFT_OUT = """
# infer: positive_data_acceptance left out. A v2 infer request may name the outputs it
# wants, and a model's outputs are known only once it has run (an unknown one is a 400
# after the run), so no document can list them. generate takes the same bodies (all but
# outputs) and is checked for it; negative_data_rejection still runs for infer.
[[operations]]
include-path-regex = "/infer$"
checks.positive_data_acceptance.enabled = false

# tensor's JSON bodies: positive_data_acceptance left out. Its input x has shape [-1], and
# a v2 tensor's shape must multiply out to its number of values: a rule between two fields,
# which JSON Schema cannot state (contract/beyond_schema.py checks it, by name). grid takes
# the same forms with fixed shapes only, and is checked for all of them; tensor's GET form
# (no tensor shape) and negative_data_rejection still run.
[[operations]]
include-path-regex = "^/inferless/v2/models/tensor/"
include-method = "POST"
checks.positive_data_acceptance.enabled = false
"""


def config() -> str:
    """schemathesis.toml: every check schemathesis has (what ``--checks all`` runs, among
    them positive_data_acceptance and negative_data_rejection), but those LEFT_OUT. In the
    file, not on the command line: there a check named would override an operation's."""
    from schemathesis.checks import CHECKS

    every = "".join(f"[checks.{name}]\nenabled = true\n" for name in CHECKS.get_all_names())
    return every + LEFT_OUT


NEVER_ENDS = "^/inferless/api/models/events$"  # the pushed model list: one endless stream
MAX_EXAMPLES = 12
BUDGET = 240.0  # seconds for the whole run
TINY_LM = Model(
    "TinyText",
    """
    import jupyter_inferless
    from jupyter_inferless.demo import load_tiny_lm

    class TinyText:
        '''The text_generation notebook's model, each run cut to 4 characters.'''

        def initialize(self):
            self.model = load_tiny_lm(jupyter_inferless.device())

        def infer(self, inputs, stream_output_handler):
            max_new_tokens = max(0, min(int(inputs.get("max_new_tokens", 64)), 4))
            seed = inputs.get("seed")  # torch takes no negative seed
            seed = None if seed is None else abs(seed)
            tokens = self.model.generate(inputs["prompt"], max_new_tokens=max_new_tokens, seed=seed)
            for token in tokens:
                stream_output_handler.send_streamed_output({"OUT": token})
            stream_output_handler.finalise_streamed_output()
    """,
    {  # the notebook's INPUT_SCHEMA
        "prompt": spec("STRING", example="There is a fine house in the forest"),
        "max_new_tokens": spec("INT32", False, 64),
        "seed": spec("INT32", False, 0),
    },
)


GRID = Model(
    "Grid",
    """
    class Grid:
        '''v2 tensors of fixed shapes: a [2, 2] of UINT8, an FP32 [3], a label.'''

        def infer(self, inputs):
            total = sum(inputs.get("v", []))
            return {"grid": inputs["grid"], "sum": total, "label": inputs["label"]}
    """,
    {
        "grid": {"datatype": "UINT8", "required": True, "shape": [2, 2], "example": [1, 2, 3, 4]},
        "v": {"datatype": "FP32", "required": False, "shape": [3], "example": [0.5, 1.5, 2.0]},
        "label": spec("STRING", example="a"),
    },
    streaming=False,
)


def with_examples(model: Model, examples: dict[str, list[Any]]) -> Model:
    """The model with an example for each input (the examples phase sends them)."""
    schema = {name: {**spec, "example": examples[name]} for name, spec in model.schema.items()}
    return replace(model, schema=schema)


@pytest.fixture
def served(serving):
    """chat (counter-style), tiny (the notebook's tiny character model), tensor and grid."""
    chat = with_examples(CHAT, {"prompt": ["hi"], "n": [2], "big": [2**40], "flag": [True]})
    tensor = with_examples(TENSOR, {"x": [0.5, 1.5], "grid": [1, 2, 3, 4], "label": ["a"]})
    serving(chat.serve("chat", max_concurrency=1, queue_size=0), "chat")
    serving(TINY_LM.serve("tiny"), "tiny")
    serving(GRID.serve("grid"), "grid")
    return serving(tensor.serve("tensor"), "tensor")


async def test_schemathesis_finds_no_error_and_no_contradiction(served, tmp_path: Path):
    token = served.auth["Authorization"]
    (tmp_path / "schemathesis.toml").write_text(config())
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        served.url("inferless/api/openapi.json"),
        "--header",
        f"Authorization: {token}",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--exclude-path-regex",
        NEVER_ENDS,
        "--workers",
        "1",  # more workers trip CPython 3.11's ast in threads (SystemError) inside hypothesis
        "--seed",
        "20240601",
        "--max-failures",
        "20",
        "--generation-database",
        "none",
        "--no-color",
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,  # where schemathesis.toml is
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), BUDGET)
    except asyncio.TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        pytest.fail("schemathesis ran too long:\n" + output.decode(errors="replace"))
    text = output.decode(errors="replace").replace(token, "token ***")
    print(text)  # what was run and how many cases, shown with pytest -s
    assert process.returncode == 0, text
    assert "Network Error" not in text and "timed out" not in text, text  # default timeouts
    ran = re.search(r"(\d+) generated, \1 passed", text)
    assert ran and int(ran.group(1)) > 1000, text  # every case passed, and there were many
    operations = re.search(r"Tested: (\d+)", text)
    assert operations and int(operations.group(1)) == 46, text  # 4 models' and 7 fixed
