"""Another site in the same browser cannot start or cancel a run with the login cookie.

Real Chromium, logged in to a JupyterLab server at 127.0.0.1. Attack pages are served from
another host name (http://localhost:PORT, another site) and from another port of the same
host (http://127.0.0.1:PORT, the same site, where the browser sends the cookie with every
request). They try top-level navigation, a GET form, an <img>, a no-cors fetch and a POST
form on the GET stream URL, and a DELETE on a running stream. The server's log shows each
attack arrived and why it was refused, so "0 runs" cannot come from attacks that never
left the browser. A same-origin EventSource on a JupyterLab page, cookie only, streams.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.lab_server import Lab, lab_serving
from tests.support.models import COUNTER, counter_outputs
from tests.support.sse_reader import events_in
from tests.support.waiting import until_sync

pytestmark = pytest.mark.browser

BASE_URL = "/cross-site/"
# Each attack runs in a page of the attacker's origin, given the victim URL.
ATTACKS = {
    "navigation": "url => { location.href = url; }",
    "get-form": """url => {
        const target = new URL(url);
        const form = document.createElement('form');
        form.method = 'GET';
        form.action = target.origin + target.pathname;
        for (const [name, value] of target.searchParams) {
            const input = document.createElement('input');
            input.name = name;
            input.value = value;
            form.appendChild(input);
        }
        document.body.appendChild(form);
        form.submit();
    }""",
    "img": """url => new Promise(resolve => {
        const image = new Image();
        image.onload = image.onerror = () => resolve(null);
        image.src = url;
    })""",
    "no-cors-fetch": """url => fetch(url, {mode: 'no-cors', credentials: 'include'})
        .then(() => null, () => null)""",
    "post-form": """url => {
        const target = new URL(url);
        const form = document.createElement('form');
        form.method = 'POST';
        form.enctype = 'text/plain';
        form.action = target.origin + target.pathname;
        const input = document.createElement('input');
        input.name = '{"n": 5, "x": "';
        input.value = '"}';
        form.appendChild(input);
        document.body.appendChild(form);
        form.submit();
    }""",
}
NAVIGATING = ("navigation", "get-form", "post-form")  # the attacks that leave the page
CANCEL = """url => fetch(url, {method: 'DELETE', credentials: 'include'})
    .then(response => response.status, () => 'blocked')"""
SAME_ORIGIN_EVENTSOURCE = """
url => new Promise(resolve => {
  const events = [];
  const source = new EventSource(url);
  const timer = setTimeout(() => { source.close(); resolve({how: 'timeout', events}); }, 20000);
  source.onmessage = event => events.push(event.data);
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      clearTimeout(timer);
      resolve({how: 'closed', events});
    }
  };
})
"""


class AttackerPages(http.server.BaseHTTPRequestHandler):
    """Serves an empty HTML page for any path: the attacks run in it."""

    def do_GET(self) -> None:
        body = b"<!doctype html><html><body><p>another site</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def attacker_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AttackerPages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab under a base_url, serving Counter as 'counter'."""
    base = tmp_path_factory.mktemp("cross-site")
    with lab_serving(base, COUNTER.serve("counter"), "counter", base_url=BASE_URL) as server:
        yield server


@pytest.fixture(scope="module")
def logged_in(lab: Lab, browser: Any) -> Lab:
    """The browser holds the server's login cookie (the token URL logs it in)."""
    page = browser.new_page()
    page.goto(f"{lab.url}lab?token={lab.token}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=60000)
    page.close()
    names = [cookie["name"] for cookie in browser.cookies()]
    assert any(name.startswith("username-127-0-0-1-") for name in names), names
    return lab


ANSWERED = re.compile(r"\] \d{3} (GET|POST) ")
REFUSED = re.compile(r"\] 40[34] (GET|POST) ")


def stream_requests(lab: Lab) -> list[str]:
    """The server's log lines about requests to the GET stream URL, so far."""
    return [line for line in lab.log.read_text().splitlines() if "counter/generate_stream" in line]


def attack(browser: Any, lab: Lab, origin: str, name: str, url: str) -> list[str]:
    """Run one attack from a page of ``origin``; the server's log lines about it, once the
    server has answered it (a run it started would be counted by then)."""
    seen = len(stream_requests(lab))
    page = browser.new_page()
    try:
        page.goto(origin)
        try:
            page.evaluate(ATTACKS[name], url)
        except Exception as err:  # a navigating page destroys the script's context
            if "context was destroyed" not in str(err) and "navigat" not in str(err):
                raise
        if name in NAVIGATING:  # the page shows the server's answer (closing sooner can hang)
            page.wait_for_url(lambda shown: shown.startswith(url.partition("?")[0]))
        return until_sync(
            lambda: answered(stream_requests(lab)[seen:]), "the server answering the attack"
        )
    finally:
        page.close()


def answered(lines: list[str]) -> list[str]:
    """``lines`` once one of them is the server's answer; else none."""
    return lines if any(ANSWERED.search(line) for line in lines) else []


@pytest.mark.parametrize("where", ["other-host-name", "other-port"])
def test_other_sites_cannot_start_a_run(
    logged_in: Lab, browser: Any, attacker_port: int, where: str, report: Any
) -> None:
    """Navigation, GET form, <img>, no-cors fetch and POST form: they arrive, 0 runs."""
    lab = logged_in
    host = "localhost" if where == "other-host-name" else "127.0.0.1"
    origin = f"http://{host}:{attacker_port}/page.html"
    url = f"{lab.url}inferless/v2/models/counter/generate_stream?n=5"
    before = lab.runs("counter")
    arrived: dict[str, list[str]] = {}
    for name in ATTACKS:
        arrived[name] = attack(browser, lab, origin, name, url)
    assert lab.runs("counter") == before, arrived
    # Every attack reached the server and was refused there, not in the browser.
    assert all(lines for lines in arrived.values()), arrived
    refused = [line for lines in arrived.values() for line in lines if REFUSED.search(line)]
    answered = [line for lines in arrived.values() for line in lines if ANSWERED.search(line)]
    assert len(refused) == len(answered), answered  # every answer was a 403 or 404
    # The cookie went with them (same site: with all; other site: with navigations), and
    # only the cross-site rule stopped them.
    carried = ATTACKS if where == "other-port" else ("navigation", "get-form")
    site = "same-site" if where == "other-port" else "cross-site"
    for name in carried:
        if name == "post-form":
            continue  # jupyter_server's XSRF check refuses it first
        assert any(f"Sec-Fetch-Site: {site}" in line for line in arrived[name]), (name, arrived)
    report(
        f"cross-site, Chromium, from {where} ({origin.rsplit('/', 1)[0]}): "
        + ", ".join(f"{name} arrived {len(lines)}x" for name, lines in arrived.items())
        + f"; all refused (403/404); model runs {lab.runs('counter') - before}"
    )


@pytest.mark.parametrize("where", ["other-host-name", "other-port"])
def test_other_sites_cannot_cancel_a_run(
    logged_in: Lab, browser: Any, attacker_port: int, where: str
) -> None:
    """A DELETE of a running stream from another site or port leaves it running."""
    lab = logged_in
    host = "localhost" if where == "other-host-name" else "127.0.0.1"
    url = f"{lab.url}inferless/v2/models/counter/generate_stream?n=10&pause_ms=150"
    request = urllib.request.Request(url, headers={"Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        rid = response.headers["X-Request-Id"]
        page = browser.new_page()
        try:
            page.goto(f"http://{host}:{attacker_port}/page.html")
            outcome = page.evaluate(CANCEL, f"{lab.url}inferless/api/streams/{rid}")
        finally:
            page.close()
        body = response.read()
    outputs = [event.json for event in events_in(body)]
    assert outputs == counter_outputs(10), (outcome, outputs[-1:])


def test_a_same_origin_eventsource_with_the_cookie_streams(logged_in: Lab, browser: Any) -> None:
    """JupyterLab's own page, login cookie only (no token in the URL): it streams, once."""
    lab = logged_in
    before = lab.runs("counter")
    page = browser.new_page()
    try:
        page.goto(f"{lab.url}lab")
        page.wait_for_selector("#jp-main-dock-panel", timeout=60000)
        url = f"{lab.url}inferless/v2/models/counter/generate_stream?n=5"
        result = page.evaluate(SAME_ORIGIN_EVENTSOURCE, url)
    finally:
        page.close()
    assert result["how"] == "closed", result
    assert [json.loads(data) for data in result["events"]] == counter_outputs(5)
    assert lab.runs("counter") == before + 1


def test_the_token_in_the_url_still_works_from_another_site(
    logged_in: Lab, browser: Any, attacker_port: int
) -> None:
    """?token= is the proof other clients give: an EventSource anywhere streams with it."""
    lab = logged_in
    page = browser.new_page()
    try:
        page.goto(f"http://localhost:{attacker_port}/page.html")
        url = f"{lab.url}inferless/v2/models/counter/generate_stream?n=3&token={lab.token}"
        result = page.evaluate(SAME_ORIGIN_EVENTSOURCE, url)
    finally:
        page.close()
    assert [json.loads(data) for data in result["events"]] == counter_outputs(3)
