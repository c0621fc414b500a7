"""The extension behind a real JupyterHub (hub_server.py): its proxy, the dummy
authenticator, the simple local spawner, the extension in the user's single-user server.

Through the hub's URL (``/user/NAME/...``): the HTTP endpoints with a hub API token, the
inline view from the user's kernel, and the panel in Debian's chromium after logging in at
the hub's login page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.hub_server import Hub
from tests.support.lab_panel import PANEL, model_row, open_panel, run_and_wait
from tests.support.lab_server import Kernel, Lab
from tests.support.models import COUNTER
from tests.support.sse_reader import StreamResult, read_stream

pytestmark = pytest.mark.timeout(120)

MODEL = "counter"
STREAM = f"inferless/v2/models/{MODEL}/generate_stream"
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on an event loop of its own thread (Playwright's sync API owns this
    thread's loop while the browser is open)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def request(server: Lab, path: str, body: Any = None, token: str | None = None) -> StreamResult:
    """A request through the hub to the user's server (POST with a body, else GET), with
    ``token`` (the hub API token unless given; "" for none)."""
    token = server.token if token is None else token
    return run(
        read_stream(
            server.url + path,
            method="GET" if body is None else "POST",
            body=body,
            headers={"Authorization": f"token {token}"} if token else {},
        )
    )


@pytest.fixture(scope="module")
def kernel(user_server: Lab) -> Iterator[Kernel]:
    """A notebook session's kernel on the user's server, started through the hub with the
    API token, serving COUNTER as MODEL."""
    kernel = Kernel(user_server, "hub.ipynb")
    try:
        kernel.run("%load_ext jupyter_inferless\n" + COUNTER.serve(MODEL))
        user_server.wait_for_models(MODEL)
        yield kernel
    finally:
        kernel.close()


def test_the_endpoints_answer_through_the_hub_with_an_api_token(
    hub: Hub, user_server: Lab, kernel: Kernel
) -> None:
    listed = user_server.api("inferless/api/models")["models"]
    assert [model["name"] for model in listed] == [MODEL]
    assert listed[0]["streaming"] is True

    stream = request(user_server, STREAM, {"n": 40})
    assert stream.status == 200, stream.body
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    assert stream.outputs == [{"OUT": "tok", "i": i} for i in range(40)]
    positions = [event.position for event in stream.events]
    assert positions == sorted(positions) and len(set(positions)) == 40

    # The user's own API token (default scopes) works the same.
    own = hub.user_token()
    listed_with_own = request(user_server, "inferless/api/models", token=own)
    assert listed_with_own.status == 200 and MODEL in listed_with_own.body.decode()
    stream = request(user_server, STREAM, {"n": 3}, token=own)
    assert stream.outputs == [{"OUT": "tok", "i": i} for i in range(3)]

    # Without a token the user's server refuses, through the hub as well.
    runs = user_server.runs(MODEL)
    for path, body in (("inferless/api/models", None), (STREAM, {"n": 1})):
        refused = request(user_server, path, body, token="")
        assert refused.status == 403, (path, refused.status, refused.body[:200])
    # So it does with a token the hub does not know, or one without access:servers.
    for token in ("not-a-token", hub.reader_token):
        assert request(user_server, "inferless/api/models", token=token).status == 403
    assert user_server.runs(MODEL) == runs  # no refused request ran the model


def test_the_inline_view_streams_in_the_users_kernel(kernel: Kernel) -> None:
    out = kernel.run(
        f"view = %inferless stream {MODEL} n=5\n"
        "state = view.wait(30)\n"
        "print()  # after the view's own text/plain\n"
        "print(repr((state, view.events, view.text, view.error, view.error_kind)))"
    )
    state, events, text, error, kind = eval(out.strip().splitlines()[-1])
    assert (state, error, kind) == ("done", None, None), (state, error, kind)
    assert events == 5 and text == "tok" * 5


@pytest.mark.browser
def test_the_panel_runs_a_model_through_the_hub(
    hub: Hub, user_server: Lab, kernel: Kernel, browser: Any, artifacts: Path
) -> None:
    # Log in at the hub's login page (the dummy authenticator).
    login = browser.new_page()
    login.goto(f"{hub.url}hub/login?next=/hub/home")
    login.locator("input[name=username]").fill(hub.user)
    login.locator("input[name=password]").fill(hub.password)
    login.locator("#login_submit").click()
    login.wait_for_url(f"{hub.url}hub/home", timeout=30_000)
    login.close()

    # JupyterLab of the user's server, through the hub (its OAuth login), the panel open.
    page, problems = open_panel(browser, f"{user_server.url}lab")
    try:
        assert page.url.startswith(f"{user_server.url}lab"), page.url
        panel = page.locator(PANEL)
        row = model_row(page, MODEL)
        row.wait_for(timeout=15_000)
        assert "hub.ipynb" in row.inner_text() and "ready" in row.inner_text()
        row.click()
        page.get_by_label("n", exact=True).fill("12")
        assert run_and_wait(page) == "done"
        assert panel.locator(".jp-Inferless-output").text_content() == "tok" * 12
        assert panel.locator('[data-stat="events"]').inner_text() == "12"
        table = panel.locator(".jp-Inferless-latest")
        assert table.locator('tr[data-key="i"] td').inner_text() == "11"
        page.screenshot(path=str(artifacts / "hub-panel.png"))
    finally:
        page.close()
    assert not problems, "\n".join(problems)
