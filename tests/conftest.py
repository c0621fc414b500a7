"""Fixtures: a real jupyter_server with the extension, real ipykernels, real HTTP."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests.support.browser_fixtures import CHROMIUM
from tests.support.kernels import NotebookKernel, start_kernel, stop_kernel
from tests.support.server_config import server_config
from tests.support.sse_reader import Event, StreamResult, read_stream, read_then_drop
from tests.support.waiting import until

pytest_plugins = ["pytest_jupyter.jupyter_server"]

FIGURES: list[str] = []


@pytest.fixture
def report() -> Callable[[str], None]:
    """Record a figure the test measured; the session's summary prints them all."""
    return FIGURES.append


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


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures the tests measured."""
    if FIGURES:
        terminalreporter.section("figures measured by the tests")
        for line in FIGURES:
            terminalreporter.line(line)


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """Every server test runs with the extension on and authentication required."""
    return server_config()


@pytest.fixture
def kernel(jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[NotebookKernel]:
    """A fresh ipykernel started by the server, with the extension loaded."""
    notebook = jp_asyncio_loop.run_until_complete(start_kernel(jp_serverapp))
    yield notebook
    jp_asyncio_loop.run_until_complete(stop_kernel(jp_serverapp, notebook))


@pytest.fixture
def serving(kernel: NotebookKernel, api: Api, jp_asyncio_loop: Any) -> Callable[..., Api]:
    """For fixtures: run kernel code that serves models (models.py's ``Model.serve``), wait
    until each of ``names`` is listed, and return the api."""

    def serve(code: str, *names: str) -> Api:
        async def run() -> None:
            await kernel.run(code)
            for name in names:
                await api.wait_for_model(name)

        jp_asyncio_loop.run_until_complete(run())
        return api

    return serve


@pytest.fixture
def api(
    jp_serverapp: Any,
    http_server_client: Any,
    jp_http_port: int,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
) -> Api:
    """Helpers to call the extension over real loopback HTTP (the server listens on 127.0.0.1)."""
    return Api(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_auth_header)


class Api:
    """URL building, authenticated JSON calls, streams."""

    def __init__(self, base: str, auth: dict[str, str]) -> None:
        self.base = base
        self.auth = auth

    def url(self, path: str) -> str:
        """Absolute URL of a path under base_url."""
        return self.base + path.lstrip("/")

    async def stream(
        self,
        path: str,
        body: Any = None,
        method: str = "POST",
        headers: dict[str, str] | None = None,
    ) -> StreamResult:
        """Read a stream to its end."""
        return await read_stream(
            self.url(path), method=method, body=body, headers={**self.auth, **(headers or {})}
        )

    async def stream_then_drop(
        self,
        path: str,
        body: Any,
        keep: int,
        headers: dict[str, str] | None = None,
    ) -> tuple[list[Event], dict[str, str]]:
        """Stream (POST with a body, else GET), then cut the connection after ``keep``
        events: those events, and the response's headers (lower-cased names)."""
        return await read_then_drop(self.url(path), {**self.auth, **(headers or {})}, body, keep)

    async def call(
        self, path: str, body: Any = None, method: str = "GET", auth: bool = True
    ) -> tuple[int, Any]:
        """A JSON request; returns (status, parsed body)."""
        result = await read_stream(
            self.url(path),
            method=method,
            body=body,
            headers=self.auth if auth else {},
        )
        try:
            parsed = json.loads(result.body) if result.body else None
        except ValueError:
            parsed = result.body
        return result.status, parsed

    async def wait_for_model(self, name: str, timeout: float = 10.0, present: bool = True) -> None:
        """Wait until ``name`` is (or is no longer) listed."""

        async def listed_as_wanted() -> bool:
            status, body = await self.call("inferless/api/models")
            names = {model["name"] for model in body["models"]} if status == 200 else set()
            return (name in names) == present

        what = f"model {name!r} {'appeared' if present else 'left'}"
        await until(listed_as_wanted, what, timeout)


Runner = Callable[[str], Awaitable[str]]
