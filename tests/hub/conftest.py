"""A real JupyterHub (hub_server.py) with the user's server started, and Debian's chromium
(browser_fixtures.py), for the tests of the extension behind a hub."""

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
from tests.support.hub_server import Hub, running_hub
from tests.support.lab_server import Lab

__all__ = ["artifacts", "browser", "hub", "jp_asyncio_loop", "jp_server_cleanup", "user_server"]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A JupyterHub subprocess; its log (the proxy's and the user's server's too) is kept in
    test-artifacts/."""
    base = tmp_path_factory.mktemp("hub")
    try:
        with running_hub(base) as server:
            yield server
    finally:
        if (base / "jupyterhub.log").exists():
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(base / "jupyterhub.log", ARTIFACTS / "jupyterhub.log")


@pytest.fixture(scope="module")
def user_server(hub: Hub) -> Lab:
    """The user's single-user server, started through the hub's API: reached through the
    hub's proxy (``/user/NAME/``) with the hub API token."""
    return hub.start_user_server()
