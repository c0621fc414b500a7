"""server/tornado_direct.py: the direct write path and tornado's public one put the same
bytes on the wire; only a tested tornado gets the direct path. And write_error's message
from public API only."""

from __future__ import annotations

import asyncio
import re
import zlib
from typing import Any
from urllib.parse import urlsplit

import pytest
import tornado
from tornado import web

from jupyter_inferless.server import tornado_direct
from jupyter_inferless.server.http.base_handler import (
    InferlessHandler,
    error_message,
    reason_phrase,
)
from tests.support.models import Model, spec
from tests.support.server_config import server_config
from tests.support.sse_reader import events_in, raw_post

GATED = Model(
    "Gated",
    '''
    import threading

    class Gated:
        """n events {"OUT": f"g{i}"}; each is sent only once Gated.go is released for it."""

        go = threading.Semaphore(0)

        def infer(self, inputs, stream_output_handler):
            for i in range(inputs["n"]):
                if not Gated.go.acquire(timeout=30):
                    raise TimeoutError(f"event {i} was never let go")
                stream_output_handler.send_streamed_output({"OUT": f"g{i}"})
            stream_output_handler.finalise_streamed_output()
    ''',
    {"n": spec("INT32")},
)
GATED_STREAM = "inferless/v2/models/gated/generate_stream"
EVENTS = 6
GZIP_ON = {
    **server_config(),
    "ServerApp": {**server_config()["ServerApp"], "tornado_settings": {"compress_response": True}},
}
direct_path_only = pytest.mark.skipif(
    not tornado_direct.ON_TESTED_TORNADO,
    reason=f"tornado {tornado.version} is not a tested one: only the public path runs",
)


@pytest.mark.parametrize(
    ("version", "tested"),
    [
        ((6, 6, 1, 0), True),
        ((6, 6, 0, 0), True),
        ((6, 6, 5, -100), True),  # a beta of a patch release: same minor version
        ((6, 5, 10, 0), True),
        ((6, 5), True),
        ((6, 4, 2, 0), False),
        ((6, 7, 0, -100), False),
        ((6, 7, 0, 0), False),
        ((7, 0, 0, 0), False),
        ((5, 6, 1, 0), False),
        ((6,), False),
    ],
)
def test_only_the_tested_minor_versions_get_the_direct_path(version, tested):
    assert tornado_direct.is_tested(version) is tested


def test_the_installed_tornado_was_checked_at_import():
    assert tornado_direct.ON_TESTED_TORNADO is tornado_direct.is_tested(tornado.version_info)


@pytest.mark.parametrize(
    ("status", "error", "reason", "expected"),
    [
        (405, web.HTTPError(405), None, "Method Not Allowed"),
        (404, None, None, "Not Found"),
        (400, web.HTTPError(400, reason="Odd Request"), None, "Odd Request"),
        (400, web.HTTPError(400, reason="Odd Request"), "Other", "Odd Request"),
        (403, web.HTTPError(403), "Go Away", "Go Away"),
        (500, RuntimeError("a bug"), None, "Internal Server Error"),
        (299, None, None, "Unknown"),
    ],
)
def test_the_reason_phrase_is_the_one_of_the_status_line(status, error, reason, expected):
    assert reason_phrase(status, error, reason) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (web.HTTPError(400), None),
        (web.HTTPError(400, ""), None),
        (web.HTTPError(400, "no such %s: %r", "model", "x"), "no such model: 'x'"),
        (web.HTTPError(400, "100% sure"), "100% sure"),  # no arguments: % is no placeholder
    ],
)
def test_an_http_errors_message_has_its_arguments_put_in(error, expected):
    assert error_message(error) == expected


async def test_an_error_without_a_message_says_its_reason_phrase(api):
    status, body = await api.call(GATED_STREAM, method="PUT", body=b"{}")
    assert (status, body) == (405, {"error": "Method Not Allowed", "kind": "method_not_allowed"})


async def gated_response(
    api: Any, kernel: Any, version: str, headers: dict[str, str] | None = None
) -> bytes:
    """POST a Gated stream of EVENTS events over a bare socket, letting the model send each
    event only once the one before it (the retry line for the first) has arrived: so every
    event is a flush of its own. The whole response, as it came."""
    url = api.url(GATED_STREAM)
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(raw_post(url, api.auth, {"n": EVENTS}, version, headers))
    received, released = b"", 0
    try:
        while data := await asyncio.wait_for(reader.read(65536), 30):
            received += data
            body = decoded_body(received)
            started = body.startswith(b"retry: ") and b"\n" in body  # the retry line is out
            due = min(EVENTS, len(events_in(body)) + 1) if started else 0
            for _ in range(due - released):
                await kernel.run("Gated.go.release()")
            released = max(released, due)
    finally:
        writer.close()
    return received


def decoded_body(response: bytes) -> bytes:
    """The body received so far: its complete chunks when chunked, gunzipped when gzipped."""
    head, _, body = response.partition(b"\r\n\r\n")
    if b"\r\nTransfer-Encoding: chunked" in head:
        body = b"".join(chunks(body))
    if b"\r\nContent-Encoding: gzip" in head:
        body = zlib.decompressobj(wbits=31).decompress(body)
    return body


def chunks(body: bytes) -> list[bytes]:
    """The complete chunks at the start of a chunked body (the last one, empty, included)."""
    found = []
    while b"\r\n" in body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if len(rest) < size + 2:
            break
        assert rest[size : size + 2] == b"\r\n", body[:80]
        found.append(rest[:size])
        body = rest[size + 2 :]
    return found


def without_request_id(response: bytes) -> bytes:
    """The response with what two runs of one stream must differ in made constant: the
    request id (headers, event ids), Date, and jupyter_server's login cookie (a new
    anonymous user for each token request, signed with the time)."""
    rid = request_id(response)
    same = response.replace(rid, b"R" * len(rid))
    for header in (b"Date", b"Set-Cookie"):
        same = re.sub(rb"\r\n%s: [^\r]*\r\n" % header, rb"\r\n%s: ...\r\n" % header, same)
    return same


def request_id(response: bytes) -> bytes:
    """The X-Request-Id of a response."""
    found = re.search(rb"\r\nX-Request-Id: ([0-9a-f]+)\r\n", response)
    assert found is not None, response[:400]
    return found[1]


@pytest.fixture
def gated(serving, jp_serverapp):
    """The Gated model served; the server's Service, whose direct_writes the tests switch."""
    serving(GATED.serve("gated"), "gated")
    return jp_serverapp.web_app.settings["inferless_service"]


@pytest.fixture
def flushes(monkeypatch) -> list[int]:
    """Counts the flushes of every handler (one number per test run)."""
    counted = [0]
    flush = InferlessHandler.flush

    def counting(self: InferlessHandler, include_footers: bool = False) -> Any:
        counted[0] += 1
        return flush(self, include_footers)

    monkeypatch.setattr(InferlessHandler, "flush", counting)
    return counted


@direct_path_only
@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
async def test_both_paths_put_the_same_bytes_on_the_wire(gated, api, kernel, flushes, version):
    sent = {}
    for direct in (True, False, True):
        gated.direct_writes = direct
        before = flushes[0]
        response = await gated_response(api, kernel, version)
        sent.setdefault(direct, []).append((without_request_id(response), flushes[0] - before))
    (direct_bytes, direct_flushes), (again, _) = sent[True]
    ((public_bytes, public_flushes),) = sent[False]
    assert public_bytes == direct_bytes
    assert again == direct_bytes
    # the direct path really was the one taken: it skips a flush per event
    assert public_flushes - direct_flushes == EVENTS
    head, _, body = direct_bytes.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")  # tornado answers HTTP/1.0 as 1.1 too
    events = [f'id: {"R" * 32}:{i}\ndata: {{"OUT":"g{i}"}}\n\n'.encode() for i in range(EVENTS)]
    if version == "HTTP/1.1":
        assert head.endswith(b"\r\nTransfer-Encoding: chunked")
        assert chunks(body) == [b"retry: 2000\n", *events, b""]  # an event a chunk
    else:
        assert b"\r\nTransfer-Encoding" not in head and b"\r\nContent-Length" not in head
        assert body == b"retry: 2000\n" + b"".join(events)


@direct_path_only
@pytest.mark.parametrize("jp_server_config", [GZIP_ON])
async def test_with_compress_response_only_the_public_path_gzips(gated, api, kernel):
    accepts_gzip = {"Accept-Encoding": "gzip"}
    gated.direct_writes = True
    direct = await gated_response(api, kernel, "HTTP/1.1", accepts_gzip)
    gated.direct_writes = False
    public = await gated_response(api, kernel, "HTTP/1.1", accepts_gzip)
    assert b"\r\nContent-Encoding" not in direct.partition(b"\r\n\r\n")[0]
    # gzipped, and still event by event: each event was let go only once the one before had
    # arrived and unzipped
    assert b"\r\nContent-Encoding: gzip\r\n" in public.partition(b"\r\n\r\n")[0]
    bodies = [decoded_body(r).replace(request_id(r), b"R") for r in (public, direct)]
    assert bodies[0] == bodies[1]
    assert len(events_in(bodies[0])) == EVENTS
