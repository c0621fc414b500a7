"""A real JupyterLab server and Debian's chromium, driven by Playwright.

The server runs as a subprocess on 127.0.0.1 with its config, data and runtime dirs in a
temporary directory, so nothing leaks in or out; the jupyter_inferless server extension is
enabled by its installation, as for a user. The browser is /usr/bin/chromium (Playwright's
own browser downloads are never used); the tests are skipped when it is missing
(scripts/browser-deps.sh installs it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab_server import Lab, running_lab

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives JupyterLab in Debian's chromium (scripts/browser-deps.sh)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests are skipped, saying why, only when there is no chromium to drive."""
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} is missing: run scripts/browser-deps.sh to install chromium"
    )
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> None:
    """No pytest-jupyter event loop here: Playwright's sync API runs its own in this thread,
    and the plugin's loop fixture would take that one and close it under Playwright."""
    return None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    """No in-process server to clean up: JupyterLab runs as a subprocess."""
    return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A JupyterLab server subprocess serving a fresh notebook folder."""
    try:
        with running_lab(tmp_path_factory.mktemp("lab")) as server:
            yield server
    finally:
        logs = list(tmp_path_factory.getbasetemp().glob("lab*/jupyterlab.log"))
        if logs:
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(logs[-1], ARTIFACTS / "jupyterlab.log")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's chromium, headless, with a fresh profile."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
