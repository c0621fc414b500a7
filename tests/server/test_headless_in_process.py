"""``serve_path`` run by an extension loaded in-process, as ``jupyter server`` loads it: the
target is served, and no signal handler is installed (only ``jupyter inferless serve``'s
command line installs its own)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.support.models import COUNTER
from tests.support.server_config import server_config
from tests.support.waiting import until

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@pytest.fixture
def handlers_before() -> dict[int, Any]:
    """The signal handlers before the server is made."""
    return {number: signal.getsignal(number) for number in SIGNALS}


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    """A notebook that serves the counter as ``counted``."""
    path = tmp_path / "counted.ipynb"
    cells = [nbformat.v4.new_code_cell(COUNTER.serve("counted"))]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


@pytest.fixture
def jp_server_config(handlers_before: dict[int, Any], notebook: Path) -> dict[str, Any]:
    config = server_config()
    config["InferlessExtension"] = {"serve_path": str(notebook)}
    return config


async def test_serve_path_in_process_serves_and_leaves_the_signal_handlers_alone(
    handlers_before, jp_serverapp, api, capsys
):
    # What jupyter_server does once its loop runs (pytest-jupyter's server does not).
    await jp_serverapp.extension_manager.start_all_extensions()
    out: list[str] = []

    def endpoints_printed() -> bool:  # the kernel starts, runs the notebook, prints them
        out.append(capsys.readouterr().out)
        return "Press Ctrl-C" in "".join(out)

    await until(endpoints_printed, "the endpoints printed", 60)
    assert "counted: Counter, streaming" in "".join(out)
    assert (await api.stream("inferless/v2/models/counted/generate_stream", {"n": 2})).status == 200

    assert {number: signal.getsignal(number) for number in SIGNALS} == handlers_before
    app = jp_serverapp.extension_manager.extension_points["jupyter_inferless"].app
    assert app.exit_code == 0
