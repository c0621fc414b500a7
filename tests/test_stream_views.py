"""The inline view against the stream views' rulebook, tests/stream_views.json.

The lab panel runs the same cases in labextension/src/__tests__/rules.spec.ts. Pure and
fast: the views run over httpx.MockTransport, with no server and no kernel. README.md's
table must be the rulebook's, row for row.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jupyter_inferless._client_errors import DEFAULT_ERROR_KIND
from jupyter_inferless.client import Client, ModelError
from jupyter_inferless.protocol import IN_BAND
from jupyter_inferless.widget import rules
from jupyter_inferless.widget.runner import StreamRun
from jupyter_inferless.widget.view import StreamView
from tests.support.waiting import until_sync

ROOT = Path(__file__).resolve().parents[1]
RULEBOOK = json.loads((ROOT / "tests" / "stream_views.json").read_text())
README = ROOT / "README.md"
HEADING = "### The stream views' rulebook"
WAIT = 10.0


def readme_table() -> list[list[str]]:
    """The rows of the first table under HEADING in README.md, header and rule left out."""
    lines = README.read_text().split(HEADING, 1)[1].splitlines()
    rows: list[str] = []
    for line in lines:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    assert len(rows) > 2, f"no table under {HEADING!r} in README.md"
    for line in rows[2:]:
        assert line.startswith("| ") and line.endswith(" |"), line
    return [[cell.strip() for cell in line[2:-2].split(" | ")] for line in rows[2:]]


def markdown(rows: list[list[str]]) -> str:
    return "\n".join(f"| {' | '.join(row)} |" for row in rows)


def test_readme_table_is_the_rulebooks() -> None:
    for row in RULEBOOK["table"]:
        assert len(row) == 2 and not any("|" in cell for cell in row), row
    assert readme_table() == RULEBOOK["table"], (
        "README.md's table and tests/stream_views.json disagree; the rulebook's rows are:\n"
        + markdown(RULEBOOK["table"])
    )


def test_the_table_names_every_state_and_kind() -> None:
    rules_column = [rule for rule, _ in RULEBOOK["table"]]
    text = markdown(RULEBOOK["table"])
    for state in RULEBOOK["states"]:
        assert f"`{state}`" in rules_column, state
    for kind in RULEBOOK["error_kinds"]:
        assert f"`{kind}`" in text, kind
    assert f"`{RULEBOOK['text_key']}`" in text
    assert f"{RULEBOOK['stop_timeout_seconds']} s after Stop" in text


def test_the_views_constants_are_the_rulebooks() -> None:
    assert list(rules.STATES) == RULEBOOK["states"]
    assert set(RULEBOOK["final_states"]) == rules.FINAL_STATES
    assert [s for s in rules.STATES if s in rules.FINAL_STATES] == RULEBOOK["final_states"]
    assert RULEBOOK["text_key"] == rules.TEXT_KEY
    assert rules.CANCELLED_KIND in RULEBOOK["error_kinds"]
    assert RULEBOOK["stop_timeout_seconds"] == rules.STOP_TIMEOUT
    assert RULEBOOK["default_error_kind"] == DEFAULT_ERROR_KIND
    assert DEFAULT_ERROR_KIND in RULEBOOK["error_kinds"]


def test_the_rulebooks_kinds_are_the_protocols() -> None:
    """The views know every kind the server may send in-band, and no other."""
    assert RULEBOOK["error_kinds"] == [kind.value for kind in IN_BAND]


def test_every_end_and_kind_has_a_case() -> None:
    cases = RULEBOOK["final_state_cases"]
    assert {case["end"] for case in cases} == set(RULEBOOK["ends"])
    assert {case["kind"] for case in cases} - {None} == set(RULEBOOK["error_kinds"])


# -- the text rule ---------------------------------------------------------------


@pytest.fixture
def view() -> Iterator[StreamView]:
    """A view with no runner; its updater thread ends with it."""
    view = StreamView("echo", interval=0.001)
    yield view
    view.finish("done")
    view.wait(WAIT)


@pytest.mark.parametrize("case", RULEBOOK["text_cases"], ids=lambda case: case["name"])
def test_text_rule(case: dict[str, Any], view: StreamView) -> None:
    text, table = "", None
    for event in case["events"]:
        piece, values = rules.split_event(event)
        text += piece or ""
        table = values if values is not None else table
        assert view.add(event)
    assert (text, table) == (case["text"], case["table"])
    assert (view.text, view.table_values) == (case["text"], case["table"])
    assert view.events == len(case["events"]) and view.state == "streaming"
    view.finish("done")
    assert view.wait(WAIT) == "done"
    shown = view.body.value + view.table.value
    if case["text"]:
        assert "<pre" in view.body.value
    for key in case["table"] or {}:
        assert f">{key}</th>" in shown, key
    if case["table"] is None:
        assert view.table.value == ""


def test_the_view_takes_no_event_after_its_end(view: StreamView) -> None:
    assert view.add({"OUT": "a"})
    view.finish("cancelled", "the server had not ended the stream 5 s after Stop")
    assert not view.add({"OUT": "late"})
    assert (view.text, view.events, view.state) == ("a", 1, "cancelled")


# -- events/s --------------------------------------------------------------------


@pytest.mark.parametrize("case", RULEBOOK["rate_cases"], ids=json.dumps)
def test_events_per_second(case: dict[str, Any]) -> None:
    rate = rules.events_per_second(case["events"], case["first_event_at"], case["until"])
    assert rate == (None if case["per_second"] is None else pytest.approx(case["per_second"]))


# -- a fake server ---------------------------------------------------------------


class FakeServer:
    """Answers the client over httpx.MockTransport: POST streams ``first`` then blocks
    until ``go`` (a Stop's DELETE sets it), then ends with ``then``."""

    def __init__(
        self,
        first: list[Any],
        then: list[Any] | BaseException | None = None,
        *,
        wait_for_delete: bool = False,
        refuse: bool = False,
        delete_status: int = 200,
        delete_ends: bool = True,
    ) -> None:
        self.first = first
        self.then = then
        self.refuse = refuse
        self.delete_status = delete_status
        self.delete_ends = delete_ends
        self.posted = threading.Event()
        self.answer = threading.Event()  # a refusal waits for it
        self.go = threading.Event()
        self.deleted = threading.Event()
        if not wait_for_delete:
            self.go.set()
        self.requests: list[str] = []

    def client(self) -> Client:
        return Client("http://jupyter/", token="t", transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if request.method == "DELETE":
            self.deleted.set()
            if self.delete_status != 200:
                return httpx.Response(self.delete_status, json={"error": "gone away"})
            if self.delete_ends:
                self.go.set()
            return httpx.Response(200, json={"cancelled": True})
        if request.method == "GET":  # a resume
            return httpx.Response(404, json={"error": "no stream rid"})
        self.posted.set()
        if self.refuse:
            self.answer.wait(WAIT)
            return httpx.Response(400, json={"error": "input 'n': expected an integer"})
        headers = {"Content-Type": "text/event-stream", "X-Request-Id": "rid"}
        return httpx.Response(200, headers=headers, content=self.body())

    def body(self) -> Iterator[bytes]:
        yield b"retry: 10\n"
        position = 0
        for data in self.first:
            yield b"id: rid:%d\ndata: %s\n\n" % (position, json.dumps(data).encode())
            position += 1
        self.go.wait(WAIT)
        if isinstance(self.then, BaseException):
            raise self.then
        for data in self.then or []:
            yield b"id: rid:%d\ndata: %s\n\n" % (position, json.dumps(data).encode())
            position += 1

    def release(self) -> None:
        self.answer.set()
        self.go.set()


# -- in-band errors --------------------------------------------------------------


@pytest.mark.parametrize("case", RULEBOOK["in_band_cases"], ids=lambda case: json.dumps(case))
def test_in_band_error(case: dict[str, Any]) -> None:
    server = FakeServer([{"OUT": "a"}, case["data"]])
    outputs: list[Any] = []
    with server.client() as client:
        if case["error"] is None:
            outputs.extend(client.stream("echo"))
            assert outputs == [{"OUT": "a"}, case["data"]]
            return
        with pytest.raises(ModelError) as info:
            outputs.extend(client.stream("echo"))
    assert outputs == [{"OUT": "a"}]
    assert (str(info.value), info.value.kind) == (case["error"], case["kind"])
    assert info.value.request_id == "rid"


def test_model_error_keeps_type_and_message() -> None:
    error = ModelError("KernelGone: kernel k1 is not linked", "rid", "kernel_gone", "KernelGone")
    assert (error.type, error.message, error.kind) == (
        "KernelGone",
        "kernel k1 is not linked",
        "kernel_gone",
    )
    untyped = ModelError("Looks: like a type")  # the text is never parsed for one
    assert (untyped.type, untyped.message, untyped.kind) == ("", str(untyped), DEFAULT_ERROR_KIND)


# -- final states ----------------------------------------------------------------

TEXT = "cancelled: by DELETE"  # a text that must not decide anything: only kind does


def scenario(case: dict[str, Any]) -> FakeServer:
    """The fake server that ends a stream the way ``case`` says."""
    end, kind, stop = case["end"], case["kind"], case["stop"]
    if end == "refused":
        return FakeServer([], refuse=True)
    then: list[Any] | BaseException | None = None
    if end == "error":
        then = [{"error": TEXT} if kind is None else {"error": TEXT, "kind": kind}]
    elif end == "lost":
        then = httpx.ReadError("connection reset by peer")
    # hang_up: the DELETE fails, and the stream never ends
    status = 503 if end == "hang_up" else 200
    return FakeServer([{"OUT": "a"}], then, wait_for_delete=stop, delete_status=status)


@pytest.mark.parametrize("case", RULEBOOK["final_state_cases"], ids=json.dumps)
def test_final_state(case: dict[str, Any]) -> None:
    end, kind, stop = case["end"], case["kind"], case["stop"]
    assert rules.final_state(end, kind, stopped=stop) == case["state"]

    # The same, end to end through the inline view's runner and the client.
    server = scenario(case)
    view = StreamView("echo", interval=0.001)
    run = StreamRun(server.client(), "echo", {}, view, stop_timeout=WAIT)
    try:
        run.start()
        if end == "refused":
            server.posted.wait(WAIT)
            if stop:
                view.stop_button.click()
                assert view.state == "stopping"
            server.answer.set()
        elif stop:
            until_sync(lambda: view.events == 1, "the view's first event", WAIT)
            view.stop_button.click()
            assert view.state in ("stopping", case["state"])  # the DELETE may be quick
            assert server.deleted.wait(WAIT)
        assert view.wait(WAIT) == case["state"]
    finally:
        server.release()
        run.thread.join(WAIT)
    assert not run.thread.is_alive()
    if end == "error":
        assert (view.error, view.error_kind) == (TEXT, kind or DEFAULT_ERROR_KIND)
    elif end == "end":
        assert view.error is None and view.text == "a"
    else:
        assert view.error, view.error
    if stop and end != "refused":
        assert "DELETE /inferless/api/streams/rid" in server.requests
    in_red = '<div style="color: #c5221f' in view.status.value
    assert in_red == (case["state"] in ("failed", "refused")), view.status.value


def test_stop_hangs_up_when_the_server_does_not_end_the_stream() -> None:
    # The DELETE succeeds, and the stream still never ends.
    server = FakeServer([{"OUT": "a"}], wait_for_delete=True, delete_ends=False)
    view = StreamView("echo", interval=0.001)
    run = StreamRun(server.client(), "echo", {}, view, stop_timeout=0.05)
    try:
        run.start()
        until_sync(lambda: view.events == 1, "the view's first event", WAIT)
        view.stop()
        assert view.wait(WAIT) == "cancelled"
    finally:
        server.release()
        run.thread.join(WAIT)
    assert view.error == "the server had not ended the stream 0.05 s after Stop"
    assert server.deleted.is_set()
