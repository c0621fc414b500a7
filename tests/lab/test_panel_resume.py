"""The panel's Run survives a dropped connection, in a real JupyterLab and chromium.

The whole page is loaded through a TCP proxy that resets the stream's connection a few
kilobytes into its body. The panel waits the server's ``retry:`` hint, resumes with
``GET inferless/api/streams/RID`` and ``Last-Event-ID``, and shows every token exactly
once, in order, from a model that ran once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lab_panel import BASE_URL, PANEL, click_run, model_row, open_panel, wait_for_run
from tests.support.lab_server import Kernel, Lab
from tests.support.models import PACED, paced_text
from tests.support.tcp_proxy import CuttingProxy, proxy_in_thread

TOKENS = 150
CUT_AFTER = 3000  # response bytes of the stream (headers included) before the reset

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def proxy(lab: Lab) -> Iterator[CuttingProxy]:
    """Resets the first generate_stream connection CUT_AFTER bytes into its response."""
    with proxy_in_thread(lab.port, cut_after=CUT_AFTER, reset=True) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def kernel(lab: Lab) -> Iterator[Kernel]:
    """A notebook session's kernel with the extension loaded, serving Paced as 'tokens'."""
    kernel = Kernel(lab, "resume.ipynb")
    kernel.run("%load_ext jupyter_inferless\n" + PACED.serve("tokens"))
    yield kernel
    kernel.close()


def test_run_resumes_after_a_reset_connection(
    lab: Lab, proxy: CuttingProxy, kernel: Kernel, browser: Any, artifacts: Path
) -> None:
    # The whole page through the proxy, so the panel's requests go through it too.
    page, problems = open_panel(browser, f"{proxy.url(BASE_URL)}lab?token={lab.token}")
    panel = page.locator(PANEL)
    model_row(page, "tokens").click()
    for name, value in (("n", TOKENS), ("pause_ms", 10), ("prefix", "w")):
        page.get_by_label(name, exact=True).fill(str(value))

    before = click_run(page)
    # The cut is shown while the panel waits the retry hint (2 s) ...
    page.locator(f'{PANEL} .jp-Inferless-state[data-reconnecting="true"]').wait_for(timeout=15_000)
    assert panel.locator(".jp-Inferless-state").inner_text() == "Reconnecting…"
    page.screenshot(path=str(artifacts / "panel-reconnecting.png"))
    # ... then the stream is resumed and runs to its end.
    state = wait_for_run(page, before)
    panel.get_by_label("Raw event log").check()
    page.screenshot(path=str(artifacts / "panel-resumed.png"))

    assert state == "done", (panel.locator(".jp-Inferless-error").text_content(), lab.log_tail())
    # Every token exactly once, in order.
    assert panel.locator(".jp-Inferless-output").text_content() == paced_text(TOKENS, prefix="w")
    assert panel.locator('[data-stat="events"]').inner_text() == str(TOKENS)
    assert panel.locator(".jp-Inferless-state").inner_text() == "Done"
    resumed = panel.locator(".jp-Inferless-resumed")
    assert resumed.is_visible() and resumed.inner_text() == "resumed after a dropped connection"
    assert panel.locator(".jp-Inferless-error").is_hidden()

    # The proxy reset the stream's connection, and the resume came on another one,
    # with the id of the last event received before the cut.
    assert proxy.cuts, "the proxy never cut the stream"
    requests = list(proxy.requests)
    posts = [r for r in requests if r.method == "POST" and "generate_stream" in r.path]
    resumes = [r for r in requests if r.method == "GET" and "/inferless/api/streams/" in r.path]
    assert len(posts) == 1, requests
    assert len(resumes) == 1, requests
    assert resumes[0].connection != posts[0].connection
    assert resumes[0].path.startswith(f"{BASE_URL}inferless/api/streams/")
    raw = panel.locator(".jp-Inferless-raw").text_content() or ""
    ids = re.findall(r"^id: (.*)$", raw, flags=re.MULTILINE)
    assert len(ids) == TOKENS and len(set(ids)) == TOKENS
    assert resumes[0].last_event_id in ids[:-1], (resumes[0], ids[:3])  # cut mid-stream

    # The model ran once: the resume replayed, it did not start a new run.
    assert lab.runs("tokens") == 1
    assert kernel.run("print(len(Paced.handlers))").strip() == "1"

    page.close()
    assert not problems, "\n".join(problems)
