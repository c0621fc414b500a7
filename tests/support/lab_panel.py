"""The Inferless panel in JupyterLab, as the tests in this folder drive it in chromium."""

from __future__ import annotations

from typing import Any

BASE_URL = "/lab-test/"  # not "/": the panel's URLs must honour base_url
PANEL = "#jupyter-inferless-panel"
# True once the run numbered above ``after`` has ended, in whichever final state.
RUN_ENDED = """
after => {
    const panel = document.getElementById('jupyter-inferless-panel');
    return Number(panel.dataset.runSeq) > after
        && ['done', 'cancelled', 'failed', 'refused'].includes(panel.dataset.runState);
}
"""

# True once the run numbered above ``after`` streams and shows at least ``count`` events.
RUN_STREAMING = """
([after, count]) => {
    const panel = document.getElementById('jupyter-inferless-panel');
    const events = panel.querySelector('[data-stat="events"]');
    return Number(panel.dataset.runSeq) > after && panel.dataset.runState === 'streaming'
        && events !== null && Number(events.textContent) >= count;
}
"""


def open_panel(browser: Any, url: str) -> tuple[Any, list[str]]:
    """A new tab on JupyterLab at ``url`` (with its token), the Inferless panel open; and
    the list its page errors and console errors about inferless go to."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "inferless" in msg.text.lower()
            else None
        ),
    )
    page.goto(url)
    page.locator(".jp-LabShell").wait_for(timeout=60_000)
    tab = page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[title="Inferless"]')
    tab.wait_for(timeout=30_000)
    assert tab.get_attribute("data-id") == "jupyter-inferless-panel"
    tab.click()
    page.locator(PANEL).wait_for(state="visible")
    return page, problems


def model_row(page: Any, name: str) -> Any:
    """The panel's row of a model."""
    return page.locator(f'{PANEL} .jp-Inferless-model[data-model="{name}"]')


def click_run(page: Any) -> int:
    """Click Run; the number of the run before this one (see ``wait_for_run``)."""
    before = int(page.locator(PANEL).get_attribute("data-run-seq") or 0)
    page.get_by_role("button", name="Run", exact=True).click()
    return before


def wait_for_run(page: Any, before: int, timeout: float = 30_000) -> str:
    """Wait for the run after run ``before`` to end, resumed or not; its final state."""
    page.wait_for_function(RUN_ENDED, arg=before, timeout=timeout)
    return str(page.locator(PANEL).get_attribute("data-run-state"))


def run_and_wait(page: Any, timeout: float = 30_000) -> str:
    """Click Run and wait for that run to end; its final state."""
    return wait_for_run(page, click_run(page), timeout)


def wait_for_events(page: Any, before: int, count: int, timeout: float = 15_000) -> None:
    """Wait until the run after run ``before`` streams and shows ``count`` events (until it
    starts, the count shown is the last run's)."""
    page.wait_for_function(RUN_STREAMING, arg=[before, count], timeout=timeout)
