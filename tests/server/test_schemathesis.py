"""Schemathesis against a real server: no 5xx, and no answer the OpenAPI document denies.

The schemathesis command line runs in a subprocess (the server answers on this test's
event loop meanwhile), over the examples, coverage and fuzzing phases with a bounded number
of examples, authenticated with the token. Its models are short: a fuzzed stream ends
after at most three events. The server runs with its defaults (a 15 s heartbeat) and
schemathesis with its own (its request timeout): every stream answers within a second.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.support.models import CHAT, TENSOR, Model

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
]
# Neither negative_data_rejection nor positive_data_acceptance. The server is lenient on
# purpose in places (the version in a path is ignored, an empty Last-Event-ID is no
# Last-Event-ID, a tensor's unknown keys are ignored), so some requests the document does not
# describe are served. And JSON Schema cannot say everything the server checks: that a v2
# tensor's shape multiplies to its number of values, that ``outputs`` names outputs the model
# returns (unknown before it has run), that each input comes once.
NEVER_ENDS = "^/inferless/api/models/events$"  # the pushed model list: one endless stream
MAX_EXAMPLES = 12
BUDGET = 150.0  # seconds for the whole run


def with_examples(model: Model, examples: dict[str, list[Any]]) -> Model:
    """The model with an example for each input (the examples phase sends them)."""
    schema = {name: {**spec, "example": examples[name]} for name, spec in model.schema.items()}
    return replace(model, schema=schema)


@pytest.fixture
def served(serving):
    """A streaming model (STRING, INT8, INT64, BOOL inputs) and a non-streaming one (FP16
    [-1], UINT8 [2, 2], STRING)."""
    chat = with_examples(CHAT, {"prompt": ["hi"], "n": [2], "big": [2**40], "flag": [True]})
    tensor = with_examples(TENSOR, {"x": [0.5, 1.5], "grid": [1, 2, 3, 4], "label": ["a"]})
    serving(chat.serve("chat", max_concurrency=1, queue_size=0), "chat")
    return serving(tensor.serve("tensor"), "tensor")


async def test_schemathesis_finds_no_error_and_no_contradiction(served, tmp_path: Path):
    token = served.auth["Authorization"]
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        served.url("inferless/api/openapi.json"),
        "--header",
        f"Authorization: {token}",
        "--checks",
        ",".join(CHECKS),
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
        cwd=tmp_path,
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
    assert ran and int(ran.group(1)) > 500, text  # every case passed, and there were many
