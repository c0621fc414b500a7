"""The Inferless panel in a real JupyterLab, in Debian's chromium (browser_fixtures.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser_fixtures import artifacts, browser, jp_asyncio_loop, jp_server_cleanup
from tests.support.lab_panel import BASE_URL
from tests.support.lab_server import Lab, running_lab

__all__ = ["artifacts", "browser", "jp_asyncio_loop", "jp_server_cleanup", "lab", "lab_args"]

DEV_BUILD = Path(__file__).resolve().parents[2] / "jupyter_inferless" / "labextension"


@pytest.fixture(scope="module")
def lab_args() -> tuple[str, ...]:
    """More command-line options of the module's JupyterLab (a module overrides this)."""
    return ()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, lab_args: tuple[str, ...]) -> Iterator[Lab]:
    """JupyterLab under a base_url (BASE_URL), serving the working tree's build of the panel.

    An editable install keeps the copy of the lab extension that pip made, which
    `jlpm build` (writing DEV_BUILD) does not update; lab extensions found through
    JUPYTER_PATH win over installed ones.
    """
    base = tmp_path_factory.mktemp("lab")
    with pytest.MonkeyPatch.context() as env:
        if (DEV_BUILD / "package.json").exists():
            extensions = base / "jupyter_path" / "labextensions"
            extensions.mkdir(parents=True)
            (extensions / "jupyter-inferless").symlink_to(DEV_BUILD)
            env.setenv("JUPYTER_PATH", str(base / "jupyter_path"))
        with running_lab(base, BASE_URL, lab_args) as lab:
            yield lab
