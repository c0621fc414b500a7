"""The panel's Run survives a dropped connection, in a real JupyterLab and chromium.

The whole page is loaded through a TCP proxy that resets the stream's connection a few
kilobytes into its body. The panel waits the server's ``retry:`` hint, resumes with
``GET inferless/api/streams/RID`` and ``Last-Event-ID``, and shows every token exactly
once, in order, from a model that ran once.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lab_server import Kernel, Lab, running_lab
from tcp_proxy import CuttingProxy

BASE_URL = "/lab-test/"  # not "/": the resume URL must honour base_url
TOKENS = 150
CUT_AFTER = 3000  # response bytes of the stream (headers included) before the reset

MODEL = """
import time

INPUT_SCHEMA = {
    "prompt": {"datatype": "STRING", "required": True, "shape": [1], "example": ["w"]},
    "count": {"datatype": "INT32", "required": False, "shape": [1], "example": [150]},
    "delay_ms": {"datatype": "INT32", "required": False, "shape": [1], "example": [10]},
}
IS_STREAMING_OUTPUT = True
RUNS = 0


class Tokens:
    def infer(self, inputs, stream_output_handler):
        global RUNS
        RUNS += 1
        for i in range(inputs.get("count", 150)):
            stream_output_handler.send_streamed_output({"OUT": f"{inputs['prompt']}{i} "})
            time.sleep(inputs.get("delay_ms", 10) / 1000)
        stream_output_handler.finalise_streamed_output()
"""

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DEV_BUILD = ROOT / "jupyter_inferless" / "labextension"  # where `jlpm build` writes
PANEL = "#jupyter-inferless-panel"
REQUEST_LINE = re.compile(rb"(GET|POST|DELETE) (\S+) HTTP/1\.[01]\r\n")
LAST_EVENT_ID = re.compile(rb"\r\nLast-Event-ID: ([^\r\n]*)\r\n", re.IGNORECASE)


# As in test_panel.py: no in-process server or asyncio loop for pytest-jupyter to manage.
@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> None:
    """No in-process asyncio loop here."""


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    """No in-process server to clean up."""


class StreamCuttingProxy(CuttingProxy):
    """CuttingProxy that counts ``cut_after`` from the matched request's response.

    The browser reuses keep-alive connections, so the stream's POST may arrive on a
    connection that has already carried other responses; CuttingProxy counts those too.
    It also records the inferless requests it forwards: (connection, method, path,
    Last-Event-ID).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[tuple[int, str, str, str | None]] = []

    async def _upstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cut_here: list[bool]
    ) -> None:
        while data := await reader.read(65536):
            line = REQUEST_LINE.search(data)
            if line and b"/inferless/" in line.group(2):
                last = LAST_EVENT_ID.search(data)
                self.requests.append(
                    (
                        id(cut_here),
                        line.group(1).decode(),
                        line.group(2).decode(),
                        last.group(1).decode() if last else None,
                    )
                )
            if self.match in data and not self.cuts and not self._armed:
                self._armed = True
                cut_here.append(True)
            writer.write(data)
            await writer.drain()

    async def _downstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cut_here: list[bool]
    ) -> None:
        sent = 0  # bytes of the matched response only
        while data := await reader.read(65536):
            keep = self._keep(data, sent) if cut_here else len(data)
            writer.write(data[:keep])
            await writer.drain()
            if cut_here:
                sent += keep
            if keep < len(data):
                self.cuts.append(time.monotonic())
                return


class ProxyThread:
    """A proxy running on its own asyncio loop in a background thread.

    Playwright's sync API owns the main thread's loop.
    """

    def __init__(self, target_port: int, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start() -> StreamCuttingProxy:
            return await StreamCuttingProxy(target_port, **options).start()

        self.proxy = self._call(start())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def read(self, attribute: str) -> Any:
        """A copy of a proxy attribute, read on the proxy's loop."""

        async def read() -> Any:
            return list(getattr(self.proxy, attribute))

        return self._call(read())

    def close(self) -> None:
        try:
            self._call(self.proxy.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


@pytest.fixture(scope="module")
def browser_context() -> Iterator[Any]:
    """Debian's chromium, headless (Playwright's own browser downloads are never used)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run scripts/browser-deps.sh to install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()
            browser.close()


@pytest.fixture(scope="module")
def lab(browser_context: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab under a base_url (after the browser, so a missing chromium skips first).

    It serves the working tree's build of the panel: an editable install keeps the copy
    of the lab extension that pip made, which `jlpm build` does not update. Lab
    extensions found through JUPYTER_PATH win over installed ones.
    """
    base = tmp_path_factory.mktemp("lab")
    with pytest.MonkeyPatch.context() as env:
        if (DEV_BUILD / "package.json").exists():
            extensions = base / "jupyter_path" / "labextensions"
            extensions.mkdir(parents=True)
            (extensions / "jupyter-inferless").symlink_to(DEV_BUILD)
            env.setenv("JUPYTER_PATH", str(base / "jupyter_path"))
        with running_lab(base, BASE_URL) as lab:
            yield lab


@pytest.fixture(scope="module")
def proxy(lab: Lab) -> Iterator[ProxyThread]:
    """Resets the first generate_stream connection CUT_AFTER bytes into its response."""
    port = urlsplit(lab.url).port
    assert port is not None
    running = ProxyThread(port, cut_after=CUT_AFTER, reset=True, match=b"generate_stream")
    yield running
    running.close()


@pytest.fixture(scope="module")
def kernel(lab: Lab) -> Iterator[Kernel]:
    """A notebook session's kernel with the extension loaded, serving Tokens."""
    kernel = Kernel(lab, "resume.ipynb")
    kernel.run("%load_ext jupyter_inferless")
    kernel.run(MODEL + "\n%inferless serve Tokens --name tokens")
    yield kernel
    kernel.close()


def test_run_resumes_after_a_reset_connection(
    lab: Lab, proxy: ProxyThread, kernel: Kernel, browser_context: Any
) -> None:
    page = browser_context.new_page()
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
    # The whole page through the proxy, so the panel's requests go through it too.
    page.goto(f"{proxy.proxy.url(BASE_URL)}lab?token={lab.token}")
    page.locator(".jp-LabShell").wait_for(timeout=60_000)
    tab = page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[title="Inferless"]')
    tab.wait_for(timeout=30_000)
    tab.click()
    panel = page.locator(PANEL)
    panel.wait_for(state="visible")
    page.locator(f'{PANEL} .jp-Inferless-model[data-model="tokens"]').click()
    assert page.get_by_label("count", exact=True).input_value() == str(TOKENS)

    page.get_by_role("button", name="Run", exact=True).click()
    # The cut is shown while the panel waits the retry hint (2 s) ...
    page.locator(f'{PANEL} .jp-Inferless-state[data-reconnecting="true"]').wait_for(timeout=15_000)
    assert panel.locator(".jp-Inferless-state").inner_text() == "Reconnecting…"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "panel-reconnecting.png"))
    # ... then the stream is resumed and runs to its end.
    page.wait_for_function(
        """() => {
            const panel = document.getElementById('jupyter-inferless-panel');
            return Number(panel.dataset.runSeq) === 1
                && ['done', 'cancelled', 'failed', 'refused'].includes(panel.dataset.runState);
        }""",
        timeout=30_000,
    )
    panel.get_by_label("Raw event log").check()
    page.screenshot(path=str(ARTIFACTS / "panel-resumed.png"))

    assert panel.get_attribute("data-run-state") == "done", (
        panel.locator(".jp-Inferless-error").text_content(),
        lab.log_tail(),
    )
    # Every token exactly once, in order.
    expected = "".join(f"w{i} " for i in range(TOKENS))
    assert panel.locator(".jp-Inferless-output").text_content() == expected
    assert panel.locator('[data-stat="events"]').inner_text() == str(TOKENS)
    assert panel.locator(".jp-Inferless-state").inner_text() == "Done"
    resumed = panel.locator(".jp-Inferless-resumed")
    assert resumed.is_visible() and resumed.inner_text() == "resumed after a dropped connection"
    assert panel.locator(".jp-Inferless-error").is_hidden()

    # The proxy reset the stream's connection, and the resume came on another one,
    # with the id of the last event received before the cut.
    assert proxy.read("cuts"), "the proxy never cut the stream"
    requests = proxy.read("requests")
    posts = [r for r in requests if r[1] == "POST" and "generate_stream" in r[2]]
    resumes = [r for r in requests if r[1] == "GET" and "/inferless/api/streams/" in r[2]]
    assert len(posts) == 1, requests
    assert len(resumes) == 1, requests
    assert resumes[0][0] != posts[0][0]  # a new connection
    assert resumes[0][2].startswith(f"{BASE_URL}inferless/api/streams/")
    raw = panel.locator(".jp-Inferless-raw").text_content() or ""
    ids = re.findall(r"^id: (.*)$", raw, flags=re.MULTILINE)
    assert len(ids) == TOKENS and len(set(ids)) == TOKENS
    last_event_id = resumes[0][3]
    assert last_event_id in ids[:-1], (last_event_id, ids[:3])  # cut mid-stream

    # The model ran once: the resume replayed, it did not start a new run.
    models = lab.api("inferless/api/models")["models"]
    counters = next(m for m in models if m["name"] == "tokens")["counters"]
    assert counters["requests"] == 1, counters
    kernel.run("assert RUNS == 1, RUNS")

    page.close()
    assert not problems, "\n".join(problems)
