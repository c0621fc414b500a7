"""The inline view streams over its kernel's link: no token exists, and none is needed.

The server here logs in with a password and has no token at all (as with JupyterHub or a
password-only server): the view still streams, Stop still cancels, and a refusal shows
the status and message an HTTP client would get.
"""

from __future__ import annotations

from typing import Any

import pytest
from jupyter_server.auth import passwd

from tests.support.models import PACED, paced_text
from tests.support.server_config import server_config
from tests.support.waiting import until


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """Password login, and no token (``ServerApp.token`` set keeps pytest-jupyter's away)."""
    config = server_config()
    config["ServerApp"]["token"] = ""
    config["IdentityProvider"] = {"token": ""}
    config["PasswordIdentityProvider"] = {"hashed_password": passwd("a fine house")}
    return config


async def serve_paced(kernel: Any, serverapp: Any) -> None:
    """Serve Paced as ``paced``, and wait until the server lists it (no HTTP: no token)."""
    await kernel.run(PACED.serve("paced"))
    catalog = serverapp.web_app.settings["inferless_service"].catalog
    await until(lambda: "paced" in catalog.served(), "the server listing 'paced'")


async def kernel_says(kernel: Any, expression: str) -> bool:
    """Whether ``expression`` is true in the kernel, now."""
    return (await kernel.run(f"print(bool({expression}))")).strip() == "True"


async def finished(kernel: Any) -> tuple[Any, ...]:
    out = await kernel.run(
        "state = view.wait(30)\nprint(repr((state, view.events, view.text, view.error, "
        "view.error_kind)))"
    )
    result: tuple[Any, ...] = eval(out.strip().splitlines()[-1])
    return result


async def test_the_server_has_no_token_and_hands_none_to_the_kernel(jp_serverapp, kernel):
    assert jp_serverapp.identity_provider.token == ""
    assert jp_serverapp.identity_provider.hashed_password
    await kernel.run("from jupyter_inferless.kernel import Runtime")
    await until(lambda: kernel_says(kernel, "bool(Runtime.current().links)"), "the kernel's link")
    out = await kernel.run(
        "link = next(iter(Runtime.current().links.values()))\n"
        "print(hasattr(link, 'server_token'), link.server_url is not None)"
    )
    assert out.split() == ["False", "True"], out


async def test_a_view_streams_without_a_token(kernel, jp_serverapp):
    await serve_paced(kernel, jp_serverapp)
    await kernel.run("view = %inferless stream paced n=40 pause_ms=1 prefix=p")
    state, events, text, error, _kind = await finished(kernel)
    assert (state, events, error) == ("done", 40, None)
    assert text == paced_text(40, prefix="p")


async def test_stop_cancels_without_a_token(kernel, jp_serverapp):
    await serve_paced(kernel, jp_serverapp)
    await kernel.run('view = jupyter_inferless.stream("paced", n=1000, pause_ms=20)')
    await until(lambda: kernel_says(kernel, "view.events >= 5"), "five events in the view")
    await kernel.run("view.stop()")
    state, events, _text, error, kind = await finished(kernel)
    assert (state, kind) == ("cancelled", "cancelled") and error.startswith("cancelled")
    assert 5 <= events < 1000


async def test_a_refusal_shows_the_status_and_the_servers_message(kernel, jp_serverapp):
    await serve_paced(kernel, jp_serverapp)
    # Inputs the view's own check would catch, sent straight to the server over the link.
    await kernel.run(
        "from jupyter_inferless.widget.link_client import link_client\n"
        "from jupyter_inferless.widget.runner import StreamRun\n"
        "from jupyter_inferless.widget.view import StreamView\n"
        'view = StreamView("paced")\n'
        'StreamRun(link_client(), "paced", {"n": 2, "bogus": 1}, view).start()'
    )
    state, events, _text, error, _kind = await finished(kernel)
    assert (state, events) == ("refused", 0)
    assert error.startswith("the server refused the request: unknown input 'bogus'"), error
    assert error.endswith("(400)"), error
    status = await kernel.run("print(view.status.value)")
    assert "refused" in status and "unknown input &#x27;bogus&#x27;" in status, status


async def test_the_model_list_comes_over_the_link(kernel, jp_serverapp):
    await serve_paced(kernel, jp_serverapp)
    out = await kernel.run(
        "from jupyter_inferless.widget.link_client import link_client\n"
        "client = link_client()\n"
        "print(sorted(model['name'] for model in client.models()))"
    )
    assert "['paced']" in out, out
