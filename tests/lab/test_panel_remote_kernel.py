"""The Inferless panel with a model served in a remote kernel, in a real JupyterLab and
chromium.

JupyterLab runs in gateway mode against a real Kernel Gateway (remote_kernels.py): the
notebook session's kernel is started on the gateway, so it has no connection file here, and
the test drives it over the server's websocket, as a notebook tab does. The panel lists the
model with its notebook and kernel, runs it to the end, and its Stop cancels a long run down
to the model in the remote kernel.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("kernel_gateway", reason="needs jupyter-kernel-gateway")

from tests.support.lab_panel import (
    PANEL,
    click_run,
    model_row,
    open_panel,
    run_and_wait,
    wait_for_events,
)
from tests.support.lab_server import Lab, WebsocketKernel
from tests.support.models import PACED, paced_text
from tests.support.remote_kernels import Gateway, running_gateway
from tests.support.waiting import until_sync

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

NOTEBOOK = "remote.ipynb"
EVENTS = 40


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A Kernel Gateway subprocess for this module."""
    with running_gateway(tmp_path_factory.mktemp("gateway")) as running:
        yield running


@pytest.fixture(scope="module")
def lab_args(gateway: Gateway) -> tuple[str, ...]:
    """JupyterLab in gateway mode: its kernels are started on the gateway."""
    return (
        f"--gateway-url={gateway.url}",
        f"--GatewayClient.auth_token={gateway.token}",
        "--GatewayClient.request_timeout=30",
    )


@pytest.fixture(scope="module")
def kernel(lab: Lab, gateway: Gateway) -> Iterator[WebsocketKernel]:
    """A notebook session's kernel, on the gateway, serving Paced as 'paced'."""
    kernel = WebsocketKernel(lab, NOTEBOOK)
    try:
        kernel.run("%load_ext jupyter_inferless\n" + PACED.serve("paced"))
        lab.wait_for_models("paced")
        yield kernel
    finally:
        kernel.close()


def gateway_kernels(gateway: Gateway) -> list[str]:
    """The ids of the kernels the gateway runs."""
    request = urllib.request.Request(gateway.url + "/api/kernels", headers=gateway.auth)
    with urllib.request.urlopen(request, timeout=10) as response:
        return [kernel["id"] for kernel in json.loads(response.read())]


def run_over(lab: Lab) -> dict[str, int]:
    """Paced's counters once none of its runs is active on the server; else {}."""
    counters = lab.counters("paced")
    return counters if counters is not None and counters["active"] == 0 else {}


def test_panel_runs_and_stops_a_model_in_a_remote_kernel(
    lab: Lab, gateway: Gateway, kernel: WebsocketKernel, browser: Any, artifacts: Path
) -> None:
    # The kernel is the gateway's: no connection file of it here.
    assert gateway_kernels(gateway) == [kernel.kernel_id]
    assert not list(lab.runtime_dir.glob("kernel-*.json"))

    page, problems = open_panel(browser, f"{lab.url}lab?token={lab.token}")
    panel = page.locator(PANEL)

    # Listed, with its notebook and its kernel.
    row = model_row(page, "paced")
    row.wait_for(timeout=10_000)
    assert row.get_attribute("title") == f"kernel {kernel.kernel_id}"
    text = row.inner_text()
    for expected in ("paced", "streaming", NOTEBOOK, "ready", "0 requests"):
        assert expected in text, (expected, text)

    # Run: every event, in order, and the final state.
    row.click()
    page.get_by_label("n", exact=True).fill(str(EVENTS))
    page.get_by_label("pause_ms", exact=True).fill("0")
    page.get_by_label("prefix", exact=True).fill("w")
    state = run_and_wait(page)
    assert state == "done", (panel.inner_text(), lab.log_tail(), gateway.log_tail())
    assert panel.locator(".jp-Inferless-state").inner_text() == "Done"
    assert panel.locator(".jp-Inferless-output").text_content() == paced_text(EVENTS, prefix="w")
    assert panel.locator('[data-stat="events"]').inner_text() == str(EVENTS)
    panel.get_by_label("Raw event log").check()
    raw = panel.locator(".jp-Inferless-raw").text_content() or ""
    assert raw.count("id: ") == EVENTS and f'data: {{"OUT":"w{EVENTS - 1} "}}' in raw
    page.wait_for_function(  # the counters are pushed
        f"""() => document.querySelector('[data-model="paced"] .jp-Inferless-counters')
                   .textContent.includes('{EVENTS} events')""",
        timeout=5_000,
    )
    page.screenshot(path=str(artifacts / "panel-remote-kernel.png"))
    panel.get_by_label("Raw event log").uncheck()

    # Stop cancels a long run, down to the model in the remote kernel.
    page.get_by_label("n", exact=True).fill("100000")
    page.get_by_label("pause_ms", exact=True).fill("20")
    wait_for_events(page, click_run(page), 5)
    page.get_by_role("button", name="Stop", exact=True).click()
    page.wait_for_function(
        """() => document.querySelector('.jp-Inferless-state').dataset.state === 'cancelled'""",
        timeout=10_000,
    )
    assert panel.locator(".jp-Inferless-state").inner_text() == "Cancelled"
    assert panel.locator(".jp-Inferless-error").is_hidden()  # not a failure
    assert panel.locator(".jp-Inferless-note").inner_text().startswith("cancelled")
    page.wait_for_function(  # counters are pushed at most once a second
        """() => document.querySelector('[data-model="paced"] .jp-Inferless-counters')
                   .textContent.startsWith('2 requests')""",
        timeout=5_000,
    )
    page.screenshot(path=str(artifacts / "panel-remote-kernel-stopped.png"))
    stopped_at = int(panel.locator('[data-stat="events"]').inner_text())
    assert 5 <= stopped_at < 1000
    # The server counts the run until the remote kernel reports its end: then the model's
    # loop has ended there, and the server counted no event the model did not send.
    counters = until_sync(lambda: run_over(lab), "the run of 'paced' ending")
    ended = json.loads(kernel.run("print(Paced.loop_ended)"))
    assert len(ended) == 2 and ended[0] == EVENTS, ended
    assert stopped_at <= ended[1] - EVENTS < 1000, (stopped_at, ended)
    assert counters["requests"] == 2 and counters["events"] <= ended[1], (counters, ended)

    page.close()
    assert not problems, "\n".join(problems)
