"""The fixtures of the tests that drive Debian's chromium with Playwright: tests/browser and
tests/lab, whose conftest.py files import them from here.

JupyterLab runs as a subprocess (lab_server.py), so pytest-jupyter's in-process server and
event loop are switched off. The browser is /usr/bin/chromium (Playwright's own browser
downloads are never used); tests marked ``browser`` are skipped when it is missing
(tests/conftest.py; scripts/browser-deps.sh installs it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


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
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's chromium, headless, with a fresh profile: a Playwright browser context."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots and logs go for the person reading a failure (test-artifacts/)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
