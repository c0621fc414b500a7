"""The Inferless panel in a real JupyterLab, driven in Debian's chromium.

One story, in order: open the panel; a model served by a notebook's kernel appears,
pushed; its form is built from INPUT_SCHEMA; Run streams 25 tokens; the server's
400 and an in-band error are shown; Stop cancels a long stream down to the model;
"Copy as curl/Python" give working code for the base_url; %inferless stop removes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.lab_panel import (
    PANEL,
    click_run,
    model_row,
    open_panel,
    run_and_wait,
    wait_for_events,
)
from tests.support.lab_server import Kernel, Lab
from tests.support.models import COUNTER, PACING
from tests.support.waiting import until_sync

MODEL = (
    textwrap.dedent(PACING)
    + """
INPUT_SCHEMA = {
    "prompt": {"datatype": "STRING", "required": True, "shape": [1], "example": ["tok"]},
    "count": {"datatype": "INT32", "required": False, "shape": [1], "example": [25]},
    "delay_ms": {"datatype": "INT32", "required": False, "shape": [1], "example": [0]},
    "shout": {"datatype": "BOOL", "required": False, "shape": [1], "example": [False]},
}
IS_STREAMING_OUTPUT = True


class Echo:
    def infer(self, inputs, stream_output_handler):
        word = inputs["prompt"].upper() if inputs.get("shout") else inputs["prompt"]
        if word == "boom":
            raise RuntimeError("boom")
        for i in range(inputs.get("count", 25)):
            stream_output_handler.send_streamed_output({"OUT": f"{word}{i} "})
            pace(inputs.get("delay_ms", 0) / 1000)
        stream_output_handler.finalise_streamed_output()
"""
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def kernel(lab: Lab) -> Iterator[Kernel]:
    """A notebook session's kernel with the extension loaded."""
    kernel = Kernel(lab, "panel.ipynb")
    kernel.run("%load_ext jupyter_inferless")
    yield kernel
    kernel.close()


@pytest.fixture(scope="module")
def page(lab: Lab, browser: Any) -> Iterator[Any]:
    """JupyterLab in the browser, logged in with the token, the Inferless panel open."""
    page, problems = open_panel(browser, f"{lab.url}lab?token={lab.token}")
    yield page
    page.close()
    assert not problems, "\n".join(problems)


def test_panel(lab: Lab, kernel: Kernel, page: Any, artifacts: Path) -> None:
    panel = page.locator(PANEL)
    assert "No models are served" in panel.inner_text()

    # Served -> listed, pushed by the server over the open model list (the panel does not
    # poll): the page asks nothing more of the server for it.
    with model_list_requests(page) as asked:
        kernel.run(MODEL + "\n%inferless serve Echo --name echo")
        model_row(page, "echo").wait_for(timeout=10_000)
    assert asked == [], asked
    row = model_row(page, "echo").inner_text()
    for expected in ("echo", "streaming", "panel.ipynb", "ready", "cpu", "0 requests"):
        assert expected in row, (expected, row)

    # The form, from INPUT_SCHEMA: one labelled, typed field per input, examples prefilled.
    model_row(page, "echo").click()
    prompt = page.get_by_label("prompt", exact=True)
    count = page.get_by_label("count", exact=True)
    delay = page.get_by_label("delay_ms", exact=True)
    shout = page.get_by_label("shout", exact=True)
    assert prompt.get_attribute("type") == "text" and prompt.input_value() == "tok"
    assert prompt.get_attribute("aria-required") == "true"
    assert count.get_attribute("type") == "number" and count.input_value() == "25"
    assert delay.get_attribute("type") == "number"
    assert shout.get_attribute("type") == "checkbox" and not shout.is_checked()
    assert count.get_attribute("aria-required") is None
    required = panel.locator(".jp-Inferless-required")
    assert required.count() == 1  # only prompt

    # Run 25 events: every token shows, with stats.
    prompt.fill("w")
    count.fill("25")
    assert run_and_wait(page) == "done"
    expected = "".join(f"w{i} " for i in range(25))
    assert panel.locator(".jp-Inferless-output").text_content() == expected
    assert panel.locator('[data-stat="events"]').inner_text() == "25"
    assert panel.locator('[data-stat="first"]').inner_text().endswith("ms")
    assert float(panel.locator('[data-stat="rate"]').inner_text()) > 0
    panel.get_by_label("Raw event log").check()
    raw = panel.locator(".jp-Inferless-raw").text_content() or ""
    assert raw.count("id: ") == 25 and 'data: {"OUT":"w24 "}' in raw
    page.wait_for_function(  # counters are pushed too
        """() => document.querySelector('[data-model="echo"] .jp-Inferless-counters')
                   .textContent.includes('25 events')""",
        timeout=5_000,
    )
    page.screenshot(path=str(artifacts / "panel.png"))

    # The server's 400 is shown with the form, naming the input.
    count.fill("99999999999")
    assert run_and_wait(page) == "refused"
    form_error = panel.locator(".jp-Inferless-formError")
    assert form_error.is_visible()
    assert "count" in form_error.inner_text()

    # An in-band error is shown as an error.
    count.fill("25")
    prompt.fill("boom")
    assert run_and_wait(page) == "failed"
    assert form_error.is_hidden()
    assert "RuntimeError: boom" in panel.locator(".jp-Inferless-error").inner_text()

    # Stop cancels a long stream, down to the model.
    prompt.fill("s")
    count.fill("100000")
    delay.fill("20")
    wait_for_events(page, click_run(page), 5)
    page.get_by_role("button", name="Stop", exact=True).click()
    state = panel.locator(".jp-Inferless-state")
    page.wait_for_function(  # decided by the in-band error's kind, "cancelled"
        """() => document.querySelector('.jp-Inferless-state').dataset.state === 'cancelled'""",
        timeout=10_000,
    )
    assert state.inner_text() == "Cancelled"
    page.screenshot(path=str(artifacts / "panel-stopped.png"))
    assert panel.locator(".jp-Inferless-error").is_hidden()  # not a failure
    assert panel.locator(".jp-Inferless-note").inner_text().startswith("cancelled")
    stopped_at = int(panel.locator('[data-stat="events"]').inner_text())
    assert stopped_at < 1000
    # The model's loop ended: the server counts the run until the kernel reports its end,
    # and no event of it after.
    counters = until_sync(lambda: run_over(lab, "echo"), "the run of 'echo' ending")
    assert stopped_at <= counters["events"] - 25 < 1000, (stopped_at, counters)

    # Copy as curl / Python: the current inputs, the base_url, a token placeholder.
    prompt.fill("c")
    count.fill("3")
    delay.fill("0")
    shout.check()
    copied = copy_text(page, "Copy as curl")
    stream_url = f"{lab.url}inferless/v2/models/echo/generate_stream"
    assert f"'{stream_url}'" in copied and "$JUPYTER_TOKEN" in copied
    assert '\'{"prompt":"c","count":3,"delay_ms":0,"shout":true}\'' in copied
    env = {**os.environ, "JUPYTER_TOKEN": lab.token}
    out = subprocess.run(
        ["bash", "-c", copied], env=env, capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert out.count("data: ") == 3 and '{"OUT":"C2 "}' in out
    python = copy_text(page, "Copy as Python")
    out = subprocess.run(
        [sys.executable, "-c", python],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.splitlines() == [f"{{'OUT': 'C{i} '}}" for i in range(3)]

    # Stopped -> gone from the panel, and the form with it, pushed too.
    with model_list_requests(page) as asked:
        kernel.run("%inferless stop echo")
        model_row(page, "echo").wait_for(state="detached", timeout=10_000)
    assert asked == [], asked
    assert page.locator(f"{PANEL} .jp-Inferless-form").count() == 0

    # The rulebook's text rule: OUT is the text, the other keys a table of latest values.
    kernel.run(COUNTER.serve("counted"))
    model_row(page, "counted").wait_for(timeout=10_000)
    model_row(page, "counted").click()
    assert run_and_wait(page) == "done"  # n: 5, the example
    assert panel.locator(".jp-Inferless-output").text_content() == "tok" * 5
    table = panel.locator(".jp-Inferless-latest")
    assert table.is_visible() and "latest of 5 events" in table.inner_text()
    assert table.locator('tr[data-key="i"] td').inner_text() == "4"
    assert table.locator('tr[data-key="OUT"]').count() == 0
    page.screenshot(path=str(artifacts / "panel-table.png"))
    kernel.run("%inferless stop counted")


def run_over(lab: Lab, name: str) -> dict[str, int]:
    """The model's counters once none of its runs is active on the server; else {}."""
    counters = lab.counters(name)
    assert counters is not None, f"{name!r} is not served"
    return counters if counters["active"] == 0 else {}


@contextmanager
def model_list_requests(page: Any) -> Iterator[list[str]]:
    """The URLs of the requests the page makes for the model list while the context runs."""
    asked: list[str] = []

    def note(request: Any) -> None:
        if "inferless/api/models" in request.url:
            asked.append(request.url)

    page.on("request", note)
    try:
        yield asked
    finally:
        page.remove_listener("request", note)


def copy_text(page: Any, button: str) -> str:
    """Click a copy button and return what it put on the clipboard."""
    page.evaluate(
        """() => {
            window.__copied = null;
            document.addEventListener('copy', e => {
                window.__copied = e.clipboardData.getData('text');
            }, { once: true });
        }"""
    )
    page.get_by_role("button", name=button).click()
    page.wait_for_function("() => window.__copied !== null")
    return str(page.evaluate("() => window.__copied"))
