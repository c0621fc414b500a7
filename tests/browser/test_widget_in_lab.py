"""The stream widget in a real JupyterLab, in a real browser.

Each test writes a notebook that serves a paced model from its own kernel and streams it
with ``%inferless stream``, opens it in JupyterLab (Debian's chromium, driven by
Playwright), runs all cells from the Run menu, then watches the widget in the DOM: the
text must arrive in pieces, Stop must cancel the model's loop, and a fast stream must
leave the tab responsive.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.support.lab_server import Lab
from tests.support.models import PACED, paced_text

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

# Counts the changes of a view's text as the DOM sees them (from before the view exists),
# and how late a 10 ms timer fires on the page's main thread: how long the tab was busy.
WATCH_VIEW = f"""
(name) => {{
  const find = {FIND_VIEW};
  const watch = {{changes: [], lags: [], last: '', stopped: false}};
  const textOf = () => {{
    const box = find(name);
    const pre = box && box.querySelector('pre');
    return pre ? pre.textContent : '';
  }};
  watch.observer = new MutationObserver(() => {{
    const text = textOf();
    if (text !== watch.last) {{ watch.last = text; watch.changes.push(performance.now()); }}
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
  return {changes: watch.changes, lags: watch.lags};
}
"""


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


KERNEL_IDLE = """
() => {
  const panel = document.querySelector('#main .jp-NotebookPanel:not(.lm-mod-hidden)');
  const name = panel && panel.querySelector('.jp-Toolbar-kernelName');
  const status = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return Boolean(name && status && name.textContent.trim() && !/No Kernel/.test(name.textContent)
    && status.dataset.status === 'idle');
}
"""


def wait_for_kernel_idle(page: Any, timeout: float = 60) -> None:
    """Wait until the notebook's kernel is started, connected and idle for 0.5 s.

    The toolbar shows "idle" before any kernel exists, and cells run then are dropped
    (or a "Select Kernel" dialog appears), so the kernel's name must be known too.
    """
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        if page.evaluate(KERNEL_IDLE):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= 0.5:
                return
        else:
            idle_since = None
        time.sleep(0.05)
    raise AssertionError("the notebook's kernel never became idle")


def run_all_cells(page: Any) -> None:
    """Run → Run All Cells, from the menu bar as a user would."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def read_view(page: Any, name: str) -> dict[str, Any] | None:
    return page.evaluate(READ_VIEW, name)


def wait_for_view(page: Any, name: str, until: Any, timeout: float, lab: Lab) -> dict[str, Any]:
    """Poll the view every 50 ms until ``until(view)``; fail with what was last seen."""
    deadline = time.monotonic() + timeout
    view = None
    while time.monotonic() < deadline:
        view = read_view(page, name)
        if view is not None and until(view):
            return view
        time.sleep(0.05)
    raise AssertionError(
        f"view {name!r} never got there; last seen: {view}\n"
        f"cell outputs: {cell_outputs(page)}\nserver log:\n{lab.log_tail(30)}"
    )


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
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = prompt.text_content()
        if now != before and "*" not in now and now.strip("[]: "):
            return str(cell.locator(".jp-OutputArea").text_content())
        time.sleep(0.05)
    raise AssertionError(f"cell {index} did not finish: prompt {prompt.text_content()!r}")


def test_stream_renders_progressively(open_notebook: Any, lab: Lab, artifacts: Path) -> None:
    stream = f"%inferless stream paced n={PACED_EVENTS} pause_ms=40 prefix=tok"
    page = open_notebook(write_notebook(lab, "paced.ipynb", stream))
    final = paced_text(PACED_EVENTS, prefix="tok")
    run_all_cells(page)
    seen: list[str] = []
    deadline = time.monotonic() + 60
    view: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        view = read_view(page, "paced")
        if view is not None:
            if not seen or view["text"] != seen[-1]:
                seen.append(view["text"])
            if "done" in view["status"] or "failed" in view["status"]:
                break
        time.sleep(0.05)
    if view is None:
        page.screenshot(path=str(artifacts / "widget-in-lab-missing.png"))
    assert view is not None, f"no view appeared; outputs: {cell_outputs(page)}"
    assert "done" in view["status"], view
    # The status and the text are two widgets, updated by two messages: the text may
    # land just after the status says done.
    view = wait_for_view(page, "paced", lambda view: view["text"] == final, 5, lab)
    if seen[-1] != view["text"]:
        seen.append(view["text"])
    assert f"{PACED_EVENTS} events" in view["status"]
    partial = {len(text) for text in seen if 0 < len(text) < len(final)}
    print(f"\npaced stream: {len(partial)} distinct partial renders seen before the final text")
    assert len(partial) >= 3, f"only {sorted(partial)} partial lengths seen"
    for text in seen:  # every render is a prefix of the final text: nothing reordered
        assert final.startswith(text)
    screenshot(page, "paced", artifacts / "widget-in-lab.png")


def test_stop_cancels_the_model(open_notebook: Any, lab: Lab, artifacts: Path) -> None:
    count_cell = 'print(f"sent={Paced.produced}")'
    stream = f"%inferless stream long n={LONG_EVENTS} pause_ms=20 prefix=tok"
    page = open_notebook(write_notebook(lab, "stop.ipynb", stream, (count_cell,)))
    run_all_cells(page)
    wait_for_view(page, "long", lambda view: view["text"].count("tok") >= 10, 60, lab)
    view_locator(page, "long").get_by_role("button", name="Stop").click()
    view = wait_for_view(page, "long", lambda view: "cancelled" in view["status"], 15, lab)
    assert view["disabled"], "Stop stays enabled after the stream ended"
    sent = int(run_cell(page, 3).strip().removeprefix("sent="))
    text = read_view(page, "long")["text"]
    time.sleep(0.5)
    sent_later = int(run_cell(page, 3).strip().removeprefix("sent="))
    screenshot(page, "long", artifacts / "widget-in-lab-stopped.png")
    shown = text.count("tok")
    print(f"\nstop: {shown} tokens shown, the model sent {sent} of {LONG_EVENTS} and then stopped")
    assert sent_later == sent, "the model kept running after Stop"
    assert 10 <= shown <= sent < LONG_EVENTS // 4
    assert read_view(page, "long")["text"] == text, "the text changed after the cancel"


@pytest.mark.parametrize("events", [FAST_EVENTS, 5 * FAST_EVENTS])
def test_fast_stream_keeps_the_tab_responsive(open_notebook: Any, lab: Lab, events: int) -> None:
    page = open_notebook(
        write_notebook(lab, f"fast-{events}.ipynb", f"%inferless stream fast n={events} prefix=tok")
    )
    page.evaluate(WATCH_VIEW, "fast")
    run_all_cells(page)
    started = time.monotonic()
    first_text = None
    streaming_trips: list[float] = []  # page round trips while the view says "streaming"
    other_trips: list[float] = []
    view: dict[str, Any] | None = None
    while time.monotonic() - started < 60:
        sent = time.perf_counter()
        view = read_view(page, "fast")
        trip = time.perf_counter() - sent
        if view is not None and "streaming" in view["status"]:
            streaming_trips.append(trip)
        else:
            other_trips.append(trip)
        if view is not None and first_text is None and view["text"]:
            first_text = time.monotonic() - started
        if view is not None and any(s in view["status"] for s in ("done", "failed", "cancel")):
            break
        time.sleep(0.02)
    watch = page.evaluate(STOP_WATCH)
    assert view is not None, f"no view appeared; outputs: {cell_outputs(page)}"
    assert "done" in view["status"], view
    assert first_text is not None

    changes = watch["changes"]
    span = (changes[-1] - changes[0]) / 1000 if len(changes) > 1 else 0.0
    rate = (len(changes) - 1) / span if span > 0 else 0.0
    lags = sorted(watch["lags"])
    trips = sorted(streaming_trips) or [0.0]
    print(
        f"\nfast stream, {events} events: first text {first_text:.2f} s after Run All; "
        f"{len(changes)} DOM text updates over {span:.2f} s = {rate:.1f} updates/s; "
        f"{len(streaming_trips)} page round trips while streaming: median "
        f"{1000 * statistics.median(trips):.1f} ms, max {1000 * trips[-1]:.1f} ms "
        f"(max {1000 * max(other_trips, default=0):.1f} ms before/after); a 10 ms timer in "
        f"the page fired late by median {statistics.median(lags):.1f} ms, max {lags[-1]:.1f} ms;"
        f" status: {view['status']}"
    )
    assert f"{events} events" in view["status"]
    last = f"tok{events - 1} "
    view = wait_for_view(page, "fast", lambda view: view["text"].endswith(last), 5, lab)
    assert len(changes) >= 3, "the view did not update while streaming"
    assert rate < 100, "the view redraws on every event instead of coalescing them"
    assert max(trips[-1], *other_trips) < 1.0, "the tab stopped answering for a second or more"
    assert lags[-1] < 1000, "the tab's main thread was blocked for a second or more"
