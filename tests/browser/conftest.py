"""Real JupyterLab servers driven in Debian's chromium (the fixtures: browser_fixtures.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.support.browser_fixtures import (
    ARTIFACTS,
    artifacts,
    browser,
    jp_asyncio_loop,
    jp_server_cleanup,
)
from tests.support.lab_server import Lab, running_lab

__all__ = ["artifacts", "browser", "jp_asyncio_loop", "jp_server_cleanup", "lab"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A JupyterLab server subprocess serving a fresh notebook folder; its log is kept in
    test-artifacts/."""
    try:
        with running_lab(tmp_path_factory.mktemp("lab")) as server:
            yield server
    finally:
        logs = list(tmp_path_factory.getbasetemp().glob("lab*/jupyterlab.log"))
        if logs:
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(logs[-1], ARTIFACTS / "jupyterlab.log")
