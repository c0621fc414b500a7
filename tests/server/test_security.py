"""Security: credentials on every endpoint, XSRF for cookie sessions, the token kept secret."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse

from tests.support import models
from tests.support.models import counter_outputs
from tests.support.sse_reader import EventLog, StreamResult, read_stream

CHAT = "inferless/v2/models/chat"
SLOW = "inferless/v2/models/slow"
TENSOR = "inferless/v2/models/tensor"

SLOW_RUN = {"n": 5, "pause_ms": 150}  # Counter's five events over 0.75 s


@pytest.fixture
def secured(serving: Any) -> Any:
    """A server whose kernel serves 'chat', 'slow' (streaming: Chat, Counter) and 'tensor'."""
    code = models.CHAT.serve("chat") + models.COUNTER.serve("slow") + models.TENSOR.serve("tensor")
    return serving(code, "chat", "slow", "tensor")


def chatted(prompt: str) -> list[dict[str, Any]]:
    """Chat's one event for ``prompt``."""
    return [{"OUT": prompt, "i": 0}]


def token_of(api: Any) -> str:
    """The server's token."""
    return str(api.auth["Authorization"].split()[-1])


async def counters(api: Any) -> dict[str, int]:
    """Requests each model has received."""
    status, listing = await api.call("inferless/api/models")
    assert status == 200
    return {model["name"]: model["counters"]["requests"] for model in listing["models"]}


def refusal(result: StreamResult, status: int = 403) -> str | None:
    """Why ``result`` is not a JSON refusal with ``status`` and no events (None when it is)."""
    if result.status != status:
        return f"status {result.status}: {result.body[:200]!r}"
    if not result.headers.get("Content-Type", "").startswith("application/json"):
        return f"not JSON: {result.headers.get('Content-Type')}"
    error = json.loads(result.body).get("error")
    if not isinstance(error, str) or not error:
        return f"no error message: {result.body[:200]!r}"
    if result.events:
        return f"events were sent: {result.events}"
    return None


def endpoints(rid: str) -> list[tuple[str, str]]:
    """(method, path) of every endpoint; ``rid`` is a real stream's id."""
    return [
        ("GET", "inferless/v2/health/live"),
        ("GET", "inferless/v2/health/ready"),
        ("GET", "inferless/api/models"),
        ("GET", CHAT),
        ("GET", f"{CHAT}/versions/1"),
        ("GET", f"{CHAT}/ready"),
        ("GET", f"{CHAT}/versions/1/ready"),
        ("GET", "inferless/v2/models/no-such-model"),
        ("POST", f"{TENSOR}/infer"),
        ("POST", f"{TENSOR}/versions/1/infer"),
        ("POST", f"{TENSOR}/generate"),
        ("POST", f"{TENSOR}/versions/1/generate"),
        ("POST", f"{CHAT}/generate_stream"),
        ("POST", f"{CHAT}/versions/1/generate_stream"),
        ("GET", f"{CHAT}/generate_stream?prompt=x"),
        ("GET", f"inferless/api/streams/{rid}"),
        ("GET", f"inferless/api/streams/{rid}?last_event_id=-1"),
        ("DELETE", f"inferless/api/streams/{rid}"),
        ("GET", "inferless/api/streams/0123456789abcdef0123456789abcdef"),
        ("DELETE", "inferless/api/streams/0123456789abcdef0123456789abcdef"),
        ("GET", "inferless/v2"),
        # Unknown paths under inferless/ (JSON 404 once authenticated):
        ("GET", "inferless"),
        ("GET", "inferless/v2/nope"),
        ("POST", f"{TENSOR}/nope"),
        ("GET", "inferless/api/nope"),
        ("PUT", "inferless/api/nope"),
        ("PATCH", "inferless/nope"),
        ("DELETE", "inferless/api/models/tensor"),
    ]


BODY = b'{"prompt": "x", "label": "y", "inputs": [{"name": "label", "data": ["y"]}]}'


async def test_every_endpoint_refuses_a_request_without_credentials(secured: Any) -> None:
    """403 JSON and no events from every endpoint, a real stream's included; no model work."""
    made = await secured.stream(f"{CHAT}/generate_stream", {"prompt": "private output"})
    assert made.outputs == chatted("private output")
    rid = made.headers["X-Request-Id"]
    before = await counters(secured)
    failures = []
    for method, path in endpoints(rid):
        body = BODY if method == "POST" else None
        result = await read_stream(secured.url(path), method=method, body=body)
        why = refusal(result)
        if why is None and b"private output" in result.body:
            why = "the stream's output leaked"
        if why is not None:
            failures.append(f"{method} {path}: {why}")
    assert not failures, "\n".join(failures)
    assert await counters(secured) == before  # nothing reached a model
    replay = await secured.stream(f"inferless/api/streams/{rid}", method="GET")
    assert replay.outputs == chatted("private output")  # and the refused DELETE cancelled nothing


class OpenStream:
    """A POST stream read in the background, whose request id is known once headers arrive."""

    def __init__(self, url: str, body: Any, headers: dict[str, str]) -> None:
        self.log = EventLog()
        self.rid: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        request = HTTPRequest(
            url,
            method="POST",
            body=json.dumps(body),
            headers=headers,
            header_callback=self._header,
            streaming_callback=self.log.feed,
            request_timeout=60,
        )
        self.done: asyncio.Future[HTTPResponse] = asyncio.ensure_future(
            AsyncHTTPClient().fetch(request, raise_error=False)
        )

    def _header(self, line: str) -> None:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-request-id" and not self.rid.done():
            self.rid.set_result(value.strip())

    async def outputs(self) -> list[Any]:
        """Every event, once the stream has ended."""
        response = await self.done
        assert response.code == 200, response.body
        return [event.json for event in self.log.events]


async def test_a_refused_delete_does_not_cancel_a_running_stream(secured: Any) -> None:
    """A DELETE without valid credentials leaves a running stream alone."""
    token = token_of(secured)
    running = OpenStream(secured.url(f"{SLOW}/generate_stream"), SLOW_RUN, secured.auth)
    rid = await asyncio.wait_for(running.rid, 10)
    url = secured.url(f"inferless/api/streams/{rid}")
    for headers in ({}, {"Authorization": "token wrong"}, {"Authorization": f"token {token}0"}):
        result = await read_stream(url, method="DELETE", headers=headers)
        assert refusal(result) is None, (headers, refusal(result))
    assert await running.outputs() == counter_outputs(5)

    # Control: the same DELETE with credentials does cancel.
    cancelled = OpenStream(secured.url(f"{SLOW}/generate_stream"), SLOW_RUN, secured.auth)
    rid = await asyncio.wait_for(cancelled.rid, 10)
    result = await read_stream(
        secured.url(f"inferless/api/streams/{rid}"), method="DELETE", headers=secured.auth
    )
    assert result.status == 202, result.body
    outputs = await cancelled.outputs()
    assert len([output for output in outputs if "i" in output]) < 5, outputs


def wrong_credentials(token: str, port: int) -> dict[str, dict[str, str]]:
    """Credentials that must not authenticate, by name."""
    basic = base64.b64encode(f"user:{token}".encode()).decode()
    return {
        "wrong-token": {"Authorization": "token 0123456789abcdef"},
        "wrong-bearer": {"Authorization": "Bearer 0123456789abcdef"},
        "token-prefix": {"Authorization": f"token {token[:-1]}"},
        "token-plus-suffix": {"Authorization": f"token {token}0"},
        "empty-token": {"Authorization": "token "},
        "basic-scheme": {"Authorization": f"Basic {basic}"},
        "bare-token": {"Authorization": token},
        "forged-cookie": {"Cookie": f"username-127-0-0-1-{port}=2|1:0|10:1700000000|4:user"},
        "wrong-query-token": {"?token": "0123456789abcdef"},
    }


@pytest.mark.parametrize("kind", sorted(wrong_credentials("t" * 48, 1)))
async def test_wrong_credentials_are_refused(secured: Any, jp_http_port: int, kind: str) -> None:
    """Wrong tokens, prefixes of the token, other schemes and forged cookies are refused."""
    headers = dict(wrong_credentials(token_of(secured), jp_http_port)[kind])
    query = headers.pop("?token", None)
    suffix = f"token={query}" if query is not None else ""
    before = await counters(secured)
    for method, path, body in [
        ("POST", f"{CHAT}/generate_stream", b'{"prompt": "x"}'),
        ("GET", f"{CHAT}/generate_stream?prompt=x", None),
        ("GET", "inferless/api/models", None),
        ("POST", f"{TENSOR}/generate", b'{"label": "x"}'),
    ]:
        url = secured.url(path + (("&" if "?" in path else "?") + suffix if suffix else ""))
        result = await read_stream(url, method=method, body=body, headers=headers)
        assert refusal(result) is None, (method, path, refusal(result))
    assert await counters(secured) == before


@pytest.mark.parametrize("scheme", ["token", "Bearer"])
async def test_token_and_bearer_authorization_are_accepted(secured: Any, scheme: str) -> None:
    """``Authorization: token T`` and ``Authorization: Bearer T`` both work everywhere."""
    headers = {"Authorization": f"{scheme} {token_of(secured)}"}
    result = await read_stream(
        secured.url(f"{CHAT}/generate_stream"), body={"prompt": "hi"}, headers=headers
    )
    assert result.status == 200, result.body
    assert result.outputs == chatted("hi")
    rid = result.headers["X-Request-Id"]
    listing = await read_stream(secured.url("inferless/api/models"), method="GET", headers=headers)
    assert listing.status == 200
    assert {model["name"] for model in json.loads(listing.body)["models"]} == {
        "chat",
        "slow",
        "tensor",
    }
    one = await read_stream(secured.url(f"{TENSOR}/generate"), body={"label": "a"}, headers=headers)
    assert (one.status, json.loads(one.body)["label"]) == (200, "a")
    gone = await read_stream(
        secured.url(f"inferless/api/streams/{rid}"), method="DELETE", headers=headers
    )
    assert gone.status == 200, gone.body  # it had ended: nothing to cancel


async def test_query_token_is_accepted_on_the_get_stream(secured: Any) -> None:
    """EventSource cannot set headers: ``?token=T`` works on the GET form of the stream."""
    url = secured.url(f"{CHAT}/generate_stream?prompt=hey&token={token_of(secured)}")
    result = await read_stream(url, method="GET")
    assert result.status == 200
    assert result.outputs == chatted("hey")


# -- cookie sessions and XSRF ---------------------------------------------------------------


def cookies_of(response: HTTPResponse) -> dict[str, str]:
    """name -> value of every Set-Cookie of a response."""
    pairs = (header.split(";", 1)[0] for header in response.headers.get_list("Set-Cookie"))
    return dict(pair.split("=", 1) for pair in pairs)


async def log_in(api: Any) -> tuple[str, str]:
    """Log in with the token through the login form; return (Cookie header, _xsrf value)."""
    client = AsyncHTTPClient()
    page = await client.fetch(api.url("login"), raise_error=False, follow_redirects=False)
    assert page.code == 200
    xsrf = cookies_of(page)["_xsrf"]
    reply = await client.fetch(
        api.url("login"),
        method="POST",
        body=urlencode({"password": token_of(api), "_xsrf": xsrf}),
        headers={"Cookie": f"_xsrf={xsrf}"},
        raise_error=False,
        follow_redirects=False,
    )
    assert reply.code == 302, reply.body
    session = {k: v for k, v in cookies_of(reply).items() if k.startswith("username-")}
    assert len(session) == 1, reply.headers.get_list("Set-Cookie")
    ((name, value),) = session.items()
    return f"_xsrf={xsrf}; {name}={value}", xsrf


async def test_cookie_session_posts_need_the_xsrf_token(secured: Any) -> None:
    """A logged-in browser's POST and DELETE need X-XSRFToken matching the _xsrf cookie."""
    cookie, xsrf = await log_in(secured)
    stream_url = secured.url(f"{CHAT}/generate_stream")
    body = {"prompt": "from the browser"}
    before = await counters(secured)

    missing = await read_stream(stream_url, body=body, headers={"Cookie": cookie})
    assert refusal(missing) is None, refusal(missing)
    other = "2|00000000|" + "0" * 32 + "|1700000000"
    wrong = await read_stream(
        stream_url, body=body, headers={"Cookie": cookie, "X-XSRFToken": other}
    )
    assert refusal(wrong) is None, refusal(wrong)
    foreign = await read_stream(
        stream_url,
        body=body,
        headers={"Cookie": cookie, "X-XSRFToken": xsrf, "Origin": "http://evil.example"},
    )
    assert foreign.status in (403, 404) and not foreign.events, foreign.body
    assert await counters(secured) == before

    accepted = await read_stream(
        stream_url, body=body, headers={"Cookie": cookie, "X-XSRFToken": xsrf}
    )
    assert accepted.status == 200, accepted.body
    assert accepted.outputs == chatted("from the browser")

    rid = accepted.headers["X-Request-Id"]
    stream_resource = secured.url(f"inferless/api/streams/{rid}")
    refused = await read_stream(stream_resource, method="DELETE", headers={"Cookie": cookie})
    assert refusal(refused) is None, refusal(refused)
    allowed = await read_stream(
        stream_resource, method="DELETE", headers={"Cookie": cookie, "X-XSRFToken": xsrf}
    )
    assert allowed.status == 200, allowed.body


async def test_cookie_session_gets_that_run_a_model_need_proof_of_this_server(
    secured: Any,
) -> None:
    """A logged-in browser's GET stream runs only from a page of this server.

    Same-origin fetch metadata, jupyter_server's _xsrf value or a Referer of this server
    prove it; another site's request (navigation, form, img, no-cors fetch) proves none.
    """
    anonymous = await read_stream(secured.url("inferless/api/models"), method="GET")
    assert anonymous.status == 403  # so the cookie is what lets the next requests in
    cookie, xsrf = await log_in(secured)
    listing = await read_stream(
        secured.url("inferless/api/models"), method="GET", headers={"Cookie": cookie}
    )
    assert listing.status == 200, listing.body  # reading the list starts nothing
    url = secured.url(f"{CHAT}/generate_stream?prompt=eventsource")
    before = await counters(secured)
    for headers in (
        {},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "none"},
        {"Sec-Fetch-Site": "cross-site", "Referer": secured.url("lab")},
        {"Referer": "http://127.0.0.1:1/evil.html"},
    ):
        refused = await read_stream(url, method="GET", headers={"Cookie": cookie, **headers})
        assert refusal(refused) is None, (headers, refusal(refused))
    assert await counters(secured) == before

    for proof in (
        {"Sec-Fetch-Site": "same-origin"},
        {"X-XSRFToken": xsrf},
        {"Referer": secured.url("lab")},
    ):
        stream = await read_stream(url, method="GET", headers={"Cookie": cookie, **proof})
        assert stream.status == 200, (proof, stream.body)
        assert stream.outputs == chatted("eventsource")
    by_query = await read_stream(f"{url}&_xsrf={xsrf}", method="GET", headers={"Cookie": cookie})
    assert by_query.outputs == chatted("eventsource")  # _xsrf is never an input
    replay = await read_stream(
        secured.url(f"inferless/api/streams/{by_query.headers['X-Request-Id']}"),
        method="GET",
        headers={"Cookie": cookie, "Last-Event-ID": "-1", "Sec-Fetch-Site": "same-origin"},
    )
    assert replay.outputs == chatted("eventsource")


async def test_cookie_session_posts_from_another_site_are_refused_even_with_the_xsrf_value(
    secured: Any,
) -> None:
    """A page on another port of this host can read the _xsrf cookie; fetch metadata still
    tells its requests apart, so it can neither start nor cancel a run."""
    cookie, xsrf = await log_in(secured)
    before = await counters(secured)
    for site in ("same-site", "cross-site"):
        headers = {"Cookie": cookie, "X-XSRFToken": xsrf, "Sec-Fetch-Site": site}
        result = await read_stream(
            secured.url(f"{CHAT}/generate_stream"), body={"prompt": "x"}, headers=headers
        )
        assert refusal(result) is None, (site, refusal(result))
        result = await read_stream(
            secured.url(f"{TENSOR}/generate"), body={"label": "x"}, headers=headers
        )
        assert refusal(result) is None, (site, refusal(result))
    assert await counters(secured) == before

    running = OpenStream(secured.url(f"{SLOW}/generate_stream"), SLOW_RUN, secured.auth)
    rid = await asyncio.wait_for(running.rid, 10)
    refused = await read_stream(
        secured.url(f"inferless/api/streams/{rid}"),
        method="DELETE",
        headers={"Cookie": cookie, "X-XSRFToken": xsrf, "Sec-Fetch-Site": "same-site"},
    )
    assert refusal(refused) is None, refusal(refused)
    assert await running.outputs() == counter_outputs(5)


# -- the token stays secret ---------------------------------------------------------------------


class LogCapture(logging.Handler):
    """Every record of every logger, formatted with its traceback."""

    LOGGERS = ("", "ServerApp", "tornado.access", "tornado.application", "tornado.general")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []
        self._levels: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        """Everything logged so far."""
        return "\n".join(self.lines)

    def __enter__(self) -> LogCapture:
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.DEBUG)
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def server_log(jp_serverapp: Any) -> Iterator[LogCapture]:
    """The server's log once it has started (its start-up banner shows the token on purpose).

    Request it before ``secured`` so that linking the kernel is captured too.
    """
    with LogCapture() as capture:
        yield capture


async def test_the_token_never_reaches_the_log_or_a_response(
    server_log: LogCapture, secured: Any
) -> None:
    """Token in the query or a header, on 200s, 4xxs and streams: never logged, never echoed."""
    token = token_of(secured)
    made = await secured.stream(f"{CHAT}/generate_stream", {"prompt": "x"})
    rid = made.headers["X-Request-Id"]
    bearer = {"Authorization": f"Bearer {token}"}
    requests: list[tuple[str, str, bytes | None, dict[str, str], int]] = [
        ("GET", f"{CHAT}/generate_stream?prompt=hi&token={token}", None, {}, 200),
        ("GET", f"{CHAT}/generate_stream?token={token}&bogus=1", None, {}, 400),
        ("GET", f"{CHAT}/generate_stream?token={token}&prompt=a&prompt=b", None, {}, 400),
        ("GET", f"inferless/api/models?token={token}", None, {}, 200),
        ("GET", f"inferless/v2/models/nope?token={token}", None, {}, 404),
        ("GET", f"inferless/v2/models/-bad!/ready?token={token}", None, {}, 400),
        ("GET", f"{CHAT}/infer?token={token}", None, {}, 405),
        ("POST", f"{CHAT}/generate_stream?token={token}", b'{"prompt": "hi"}', {}, 200),
        ("POST", f"{CHAT}/generate_stream?token={token}", b'{"prompt": 1}', {}, 400),
        ("POST", f"{CHAT}/generate_stream?token={token}", b"{", {}, 400),
        ("POST", f"{CHAT}/generate?token={token}", b'{"prompt": "hi"}', {}, 400),
        ("POST", f"{CHAT}/generate_stream", b'{"prompt": "hi"}', secured.auth, 200),
        ("POST", f"{CHAT}/generate_stream", b'{"colour": "red"}', secured.auth, 400),
        ("POST", f"{CHAT}/generate_stream", b'{"prompt": "hi"}', bearer, 200),
        ("POST", f"{TENSOR}/infer", b'{"inputs": 3}', bearer, 400),
        ("GET", f"inferless/api/streams/{rid}?token={token}&last_event_id=-1", None, {}, 200),
        ("GET", f"inferless/api/streams/{rid}?token={token}&last_event_id=x", None, {}, 400),
        ("GET", f"inferless/api/streams/{rid}?token={token}&last_event_id=0", None, {}, 204),
        ("DELETE", f"inferless/api/streams/{rid}?token={token}", None, {}, 200),
        ("GET", f"inferless/api/streams/nope?token={token}", None, {}, 404),
        ("GET", f"{CHAT}/generate_stream?token={token}x&prompt=a", None, {}, 403),
        ("POST", f"{CHAT}/generate_stream", b'{"prompt": "hi"}', {"Cookie": "x=1"}, 403),
    ]
    for method, path, body, headers, status in requests:
        result = await read_stream(secured.url(path), method=method, body=body, headers=headers)
        where = (method, path.replace(token, "T"), result.status, result.body[:200])
        assert result.status == status, where
        assert token.encode() not in result.body, where
        assert not any(token in value for value in result.headers.values()), where
    assert "token=[secret]" in server_log.text  # the capture does see the access log
    assert "Kernel started" in server_log.text  # and what happened before the kernel linked
    leaks = [line for line in server_log.lines if token in line]
    assert not leaks, "\n".join(line.replace(token, "<TOKEN>") for line in leaks)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(f"{CHAT}/generate_stream", b"[" * 50000, id="deeply-nested-body"),
        pytest.param(
            f"{TENSOR}/generate", b'{"label": "a", "x": [1%s]}' % (b"0" * 400), id="huge-number"
        ),
    ],
)
async def test_the_token_stays_out_of_the_log_on_bodies_that_broke_a_handler(
    server_log: LogCapture, secured: Any, path: str, body: bytes
) -> None:
    """Bodies that made a handler raise (see test_fuzz) must not put a query token in the log."""
    token = token_of(secured)
    result = await read_stream(secured.url(f"{path}?token={token}"), body=body)
    assert token.encode() not in result.body
    leaks = [line for line in server_log.lines if token in line]
    assert not leaks, "\n".join(line.replace(token, "<TOKEN>") for line in leaks)
    assert result.status == 400, result.body


# -- the network ------------------------------------------------------------------------------


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: picks a route, sends nothing
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_the_server_listens_on_loopback_only(
    api: Any, http_server_port: tuple[socket.socket, int]
) -> None:
    """Tests serve on 127.0.0.1 only: another address of this machine is refused."""
    assert urlsplit(api.url("")).hostname == "127.0.0.1"
    listening, port = http_server_port
    assert listening.getsockname()[0] == "127.0.0.1"
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # it does answer on loopback
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to try")
    with socket.socket() as control:  # a socket on every interface is reachable there
        control.bind(("0.0.0.0", 0))
        control.listen()
        socket.create_connection((address, control.getsockname()[1]), timeout=5).close()
    with pytest.raises(OSError):
        socket.create_connection((address, port), timeout=5).close()
