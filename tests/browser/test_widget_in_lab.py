"""The stream widget in a real JupyterLab, in a real browser.

Each test writes a notebook that serves a paced model from its own kernel and streams it
with ``%inferless stream``, opens it in JupyterLab (Debian's chromium, driven by
Playwright), runs all cells from the Run menu, then watches the widget in the DOM: the
text must arrive in pieces, Stop must cancel the model's loop, and a fast stream must
reach the tab coalesced, only the tail of its text in the DOM.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_inferless.widget.view import SHOWN_CHARS
from tests.support.lab_server import Lab
from tests.support.models import PACED, paced_text
from tests.support.waiting import until_sync

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


PACED_EVENTS = 60
LONG_EVENTS = 2_000
FAST_EVENTS = 20_000

# Paced, as "paced", "long" and "fast": each notebook streams one of them.
MODELS = PACED.serve("paced", "long", "fast")

# Finds the stream view of one model: the widget box whose status line names it.
FIND_VIEW = """
(name) => {
  for (const box of document.querySelectorAll('.widget-vbox')) {
    const code = box.querySelector('.widget-html code');
    if (code && code.textContent === name && box.querySelector('button')) return box;
  }
  return null;
}
"""

READ_VIEW = f"""
(name) => {{
  const box = ({FIND_VIEW})(name);
  if (!box) return null;
  const pre = box.querySelector('pre');
  const status = box.querySelector('.widget-html code').closest('.widget-html');
  const button = box.querySelector('button');
  return {{
    text: pre ? pre.textContent : '',
    status: status.textContent,
    button: button.textContent.trim(),
    disabled: button.disabled,
  }};
}}
"""

# Notes the changes of a view's text as the DOM sees them (from before the view exists):
# when each came and, with keepTexts, each text; and how late a 10 ms timer fires on the
# page's main thread: how long the tab was busy.
WATCH_VIEW = f"""
({{name, keepTexts}}) => {{
  const find = {FIND_VIEW};
  const watch = {{changes: [], texts: [], lags: [], last: '', stopped: false}};
  const textOf = () => {{
    const box = find(name);
    const pre = box && box.querySelector('pre');
    return pre ? pre.textContent : '';
  }};
  watch.observer = new MutationObserver(() => {{
    const text = textOf();
    if (text !== watch.last) {{
      watch.last = text;
      watch.changes.push(performance.now());
      if (keepTexts) watch.texts.push(text);
    }}
  }});
  watch.observer.observe(document.querySelector('#main'), {{
    subtree: true, childList: true, characterData: true,
  }});
  let expected = performance.now() + 10;
  const tick = () => {{
    const now = performance.now();
    watch.lags.push(now - expected);
    expected = now + 10;
    if (!watch.stopped) setTimeout(tick, 10);
  }};
  setTimeout(tick, 10);
  window.__inferlessWatch = watch;
}}
"""

STOP_WATCH = """
() => {
  const watch = window.__inferlessWatch;
  watch.stopped = true;
  watch.observer.disconnect();
  return {changes: watch.changes, texts: watch.texts, lags: watch.lags};
}
"""

# A view's final states, as its status line shows them.
ENDED = "view => /done|failed|cancel/.test(view.status)"


def write_notebook(lab: Lab, name: str, stream_line: str, extra: tuple[str, ...] = ()) -> str:
    """A notebook that serves the paced models, streams one, then runs ``extra`` cells."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    sources = ["%load_ext jupyter_inferless", MODELS, stream_line, *extra]
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, lab.root / name)
    return name


@pytest.fixture
def open_notebook(browser: Any, lab: Lab) -> Iterator[Any]:
    """Opens notebooks in fresh tabs; closes the tabs and shuts their kernels down after."""
    pages: list[Any] = []

    def open_(name: str) -> Any:
        page = browser.new_page()
        pages.append(page)
        # A workspace per notebook, so no tab of another test is restored next to it.
        stem = Path(name).stem
        page.goto(f"{lab.url}lab/workspaces/{stem}/tree/{name}?token={lab.token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        wait_for_kernel_idle(page)
        return page

    yield open_
    for page in pages:
        page.close()
    for session in lab.api("api/sessions"):
        lab.api(f"api/sessions/{session['id']}", method="DELETE")


# True once the notebook's kernel is known and was idle at every look for 0.5 s.
KERNEL_IDLE = """
() => {
  const panel = document.querySelector('#main .jp-NotebookPanel:not(.lm-mod-hidden)');
  const name = panel && panel.querySelector('.jp-Toolbar-kernelName');
  const status = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const idle = Boolean(name && status && name.textContent.trim()
    && !/No Kernel/.test(name.textContent) && status.dataset.status === 'idle');
  if (!idle) { window.__inferlessIdleSince = null; return false; }
  window.__inferlessIdleSince = window.__inferlessIdleSince ?? performance.now();
  return performance.now() - window.__inferlessIdleSince >= 500;
}
"""

# True once the cell at ``index`` shows a finished prompt other than ``before``.
CELL_DONE = """
([index, before]) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
  const prompt = cell ? cell.querySelector('.jp-InputArea-prompt').textContent : before;
  return prompt !== before && !prompt.includes('*') && prompt.replace(/[\\[\\]: ]/g, '') !== '';
}
"""


def wait_in_page(page: Any, script: str, arg: Any, timeout: float, failure: Any) -> Any:
    """Wait until the page's ``script(arg)`` returns something true (looked at every
    50 ms) and return it as JSON; after ``timeout`` s fail with ``failure()``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        found = page.wait_for_function(script, arg=arg, timeout=timeout * 1000, polling=50)
    except PlaywrightTimeout:
        raise AssertionError(failure()) from None
    return found.json_value()


def wait_for_kernel_idle(page: Any, timeout: float = 60) -> None:
    """Wait until the notebook's kernel is started, connected and idle for 0.5 s.

    The toolbar shows "idle" before any kernel exists, and cells run then are dropped
    (or a "Select Kernel" dialog appears), so the kernel's name must be known too.
    """
    wait_in_page(page, KERNEL_IDLE, None, timeout, lambda: "the notebook's kernel never idled")


def run_all_cells(page: Any) -> None:
    """Run → Run All Cells, from the menu bar as a user would."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def read_view(page: Any, name: str) -> dict[str, Any] | None:
    return page.evaluate(READ_VIEW, name)


def wait_for_view(
    page: Any, name: str, condition: str, timeout: float, lab: Lab, arg: Any = None
) -> dict[str, Any]:
    """Wait until the page's ``condition(view, arg)`` holds for the view of ``name`` (as
    READ_VIEW reads it); that view. Fails with what was last seen."""
    script = f"""
    ([name, arg]) => {{
      const view = ({READ_VIEW})(name);
      return view !== null && ({condition})(view, arg) ? view : null;
    }}
    """

    def failure() -> str:
        return (
            f"view {name!r} never got to {condition}; last seen: {read_view(page, name)}\n"
            f"cell outputs: {cell_outputs(page)}\nserver log:\n{lab.log_tail(30)}"
        )

    view: dict[str, Any] = wait_in_page(page, script, [name, arg], timeout, failure)
    return view


def view_locator(page: Any, name: str) -> Any:
    """The widget box of ``name``'s view, for Playwright actions."""
    return page.locator(".widget-vbox").filter(
        has=page.locator(".widget-html code", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def screenshot(page: Any, name: str, path: Path) -> None:
    """The whole tab, scrolled so that the view of ``name`` is in sight."""
    view_locator(page, name).scroll_into_view_if_needed()
    page.screenshot(path=str(path))


def cell_outputs(page: Any) -> list[str]:
    return page.evaluate(
        "() => [...document.querySelectorAll('.jp-Cell .jp-OutputArea')]"
        ".map(o => o.textContent.slice(0, 500))"
    )


def run_cell(page: Any, index: int) -> str:
    """Run one cell with Ctrl+Enter and return its output text once it finished."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputArea-prompt")
    before = prompt.text_content()
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    wait_in_page(
        page,
        CELL_DONE,
        [index, before],
        20,
        lambda: f"cell {index} did not finish: prompt {prompt.text_content()!r}",
    )
    return str(cell.locator(".jp-OutputArea").text_content())


def test_stream_renders_progressively(open_notebook: Any, lab: Lab, artifacts: Path) -> None:
    stream = f"%inferless stream paced n={PACED_EVENTS} pause_ms=40 prefix=tok"
    page = open_notebook(write_notebook(lab, "paced.ipynb", stream))
    final = paced_text(PACED_EVENTS, prefix="tok")
    page.evaluate(WATCH_VIEW, {"name": "paced", "keepTexts": True})
    run_all_cells(page)
    try:
        view = wait_for_view(page, "paced", ENDED, 60, lab)
    except AssertionError:
        page.screenshot(path=str(artifacts / "widget-in-lab-missing.png"))
        raise
    assert "done" in view["status"], view
    # The status and the text are two widgets, updated by two messages: the text may
    # land just after the status says done.
    view = wait_for_view(page, "paced", "(view, final) => view.text === final", 5, lab, final)
    seen = page.evaluate(STOP_WATCH)["texts"]  # every text the view showed, in order
    assert seen[-1] == final, seen[-1:]
    assert f"{PACED_EVENTS} events" in view["status"]
    partial = {len(text) for text in seen if 0 < len(text) < len(final)}
    print(f"\npaced stream: {len(partial)} distinct partial renders seen before the final text")
    assert len(partial) >= 3, f"only {sorted(partial)} partial lengths seen"
    for text in seen:  # every render is a prefix of the final text: nothing reordered
        assert final.startswith(text)
    screenshot(page, "paced", artifacts / "widget-in-lab.png")


def test_stop_cancels_the_model(open_notebook: Any, lab: Lab, artifacts: Path) -> None:
    count_cell = "print(Paced.produced, Paced.loop_ended)"
    stream = f"%inferless stream long n={LONG_EVENTS} pause_ms=20 prefix=tok"
    page = open_notebook(write_notebook(lab, "stop.ipynb", stream, (count_cell,)))
    run_all_cells(page)
    wait_for_view(page, "long", "view => (view.text.match(/tok/g) || []).length >= 10", 60, lab)
    view_locator(page, "long").get_by_role("button", name="Stop").click()
    view = wait_for_view(page, "long", "view => view.status.includes('cancelled')", 15, lab)
    assert view["disabled"], "Stop stays enabled after the stream ended"
    # The server counts the run until the kernel reports its end: the model's loop is over.
    until_sync(lambda: (lab.counters("long") or {}).get("active") == 0, "the run of 'long' ending")
    text = read_view(page, "long")["text"]
    produced, ended = run_cell(page, 3).strip().split(" ", 1)
    sent = int(produced)
    screenshot(page, "long", artifacts / "widget-in-lab-stopped.png")
    shown = text.count("tok")
    print(f"\nstop: {shown} tokens shown, the model sent {sent} of {LONG_EVENTS} and then stopped")
    assert ended == f"[{sent}]", "the model's loop did not end where it stopped sending"
    assert 10 <= shown <= sent < LONG_EVENTS // 4
    assert read_view(page, "long")["text"] == text, "the text changed after the cancel"


@pytest.mark.parametrize("events", [FAST_EVENTS, 5 * FAST_EVENTS])
def test_fast_stream_keeps_the_tab_responsive(open_notebook: Any, lab: Lab, events: int) -> None:
    """What keeps the tab responsive, whatever the rate: the view's updates coalesce many
    events each, and the DOM holds only the text's tail. (How late the page's timers fired
    is printed, not asserted: a duration.)"""
    page = open_notebook(
        write_notebook(lab, f"fast-{events}.ipynb", f"%inferless stream fast n={events} prefix=tok")
    )
    page.evaluate(WATCH_VIEW, {"name": "fast", "keepTexts": False})
    run_all_cells(page)
    view = wait_for_view(page, "fast", ENDED, 60, lab)
    watch = page.evaluate(STOP_WATCH)
    assert "done" in view["status"], view
    assert f"{events} events" in view["status"]
    last = f"tok{events - 1} "
    view = wait_for_view(page, "fast", "(view, last) => view.text.endsWith(last)", 5, lab, last)

    changes = watch["changes"]
    span = (changes[-1] - changes[0]) / 1000 if len(changes) > 1 else 0.0
    lags = sorted(watch["lags"])
    print(
        f"\nfast stream, {events} events: {len(changes)} DOM text updates over {span:.2f} s; "
        f"{len(view['text'])} characters shown; a 10 ms timer in the page fired late by "
        f"median {statistics.median(lags):.1f} ms, max {lags[-1]:.1f} ms; "
        f"status: {view['status']}"
    )
    assert len(changes) >= 3, "the view did not update while streaming"
    assert len(changes) <= events // 10, "the view redraws on every event instead of coalescing"
    assert "earlier characters" in view["text"], "the whole text is in the DOM, not its tail"
    assert len(view["text"]) <= SHOWN_CHARS + 100, len(view["text"])
