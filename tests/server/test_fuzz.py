"""Generated requests against every endpoint of a real server and a real kernel.

For every request: the answer is never a 5xx; a 4xx from one of our handlers is JSON
``{"error": "<message>"}``; the token is never echoed. After each batch the server still
answers and both models still serve a valid request.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import models
from tests.support.server_config import server_config
from tests.support.sse_reader import StreamResult, read_stream

MAX_BODY = 65536
CHAT = "inferless/v2/models/chat"
TENSOR = "inferless/v2/models/tensor"

# Generated requests each fuzz test sends at the least (its `fuzzer.finish` checks it).
AT_LEAST = {
    "test_fuzz_post_bodies": 750,
    "test_fuzz_oversized_bodies": 90,
    "test_fuzz_get_stream_queries": 360,
    "test_fuzz_model_names": 270,
    "test_fuzz_methods": 140,
    "test_fuzz_stream_resource": 270,
    "test_fuzz_credentials": 170,
}

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """The conftest configuration, with a small body limit so it is cheap to exceed."""
    return server_config(max_body_bytes=MAX_BODY)


@dataclass
class Fuzzer:
    """Sends requests from synchronous Hypothesis tests and checks every answer."""

    api: Any
    loop: Any
    app: Any
    base_url: str
    test: str
    errors: list[logging.LogRecord]
    sent: int = 0

    @property
    def token(self) -> str:
        """The server's token."""
        return str(self.api.auth["Authorization"].split()[-1])

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> StreamResult:
        """One request over loopback HTTP, run to its end."""
        sent_headers = {**(self.api.auth if auth else {}), **(headers or {})}
        request = read_stream(
            self.api.url(path), method=method, body=body, headers=sent_headers, timeout=30.0
        )
        result: StreamResult = self.loop.run_until_complete(request)
        return result

    def fuzz(self, method: str, path: str, *args: Any, **kwargs: Any) -> StreamResult:
        """Send a generated request (as ``send``), count it, and check the rules every
        answer keeps."""
        result = self.send(method, path, *args, **kwargs)
        self.sent += 1
        self.check(method, path, result)
        return result

    def ours(self, path: str) -> bool:
        """Whether the extension's handlers answer ``path`` (not jupyter_server's 404 page)."""
        request = SimpleNamespace(
            path=self.base_url + path.partition("?")[0],
            method="GET",
            host="127.0.0.1",
            host_name="127.0.0.1",
            headers={},
            connection=None,
        )
        handler = self.app.find_handler(request).handler_class
        return str(handler.__module__).startswith("jupyter_inferless.")

    def check(self, method: str, path: str, result: StreamResult) -> None:
        """Never a 5xx; a 4xx of ours is JSON with an error message; no token in answers."""
        where = f"{method} {path[:300]!r} -> {result.status} {result.body[:400]!r}"
        assert result.status < 500, where
        assert self.token.encode() not in result.body, where
        assert not any(self.token in value for value in result.headers.values()), where
        if method in ("HEAD", "OPTIONS"):
            assert not result.events, where
            return
        if not self.ours(path):
            assert result.status == 404, where  # jupyter_server's page for unknown paths
            return
        content_type = result.headers.get("Content-Type", "")
        if result.status >= 400:
            assert content_type.startswith("application/json"), where
            reply = json.loads(result.body)
            assert isinstance(reply, dict), where
            assert isinstance(reply.get("error"), str) and reply["error"].strip(), where
        elif result.status == 204:
            assert result.body == b"", where
        elif content_type.startswith("text/event-stream"):
            assert result.status == 200, where
            assert all(isinstance(event.json, dict) for event in result.events), where
        else:
            assert result.status in (200, 202), where
            assert isinstance(json.loads(result.body), dict), where

    def assert_serving(self) -> None:
        """The server is up and both models still answer a valid request."""
        assert self.send("GET", "inferless/v2/health/live").status == 200
        stream = self.send("POST", f"{CHAT}/generate_stream", {"prompt": "still here", "n": 2})
        assert stream.status == 200, stream.body
        assert stream.outputs == [{"OUT": "still here", "i": 0}, {"OUT": "still here", "i": 1}]
        one = self.send("POST", f"{TENSOR}/generate", {"label": "ok", "x": [1, 2.5]})
        assert one.status == 200, one.body
        assert json.loads(one.body)["count"] == 2

    def counters(self) -> dict[str, int]:
        """Requests each model has received."""
        listing = json.loads(self.send("GET", "inferless/api/models").body)
        return {model["name"]: model["counters"]["requests"] for model in listing["models"]}

    def finish(self) -> None:
        """End of a fuzz test: enough requests were sent and everything still serves."""
        self.assert_serving()
        logged = [f"{r.name}: {r.getMessage()}" for r in self.errors]
        assert not logged, "\n".join(logged)  # nothing failed in the background either
        assert self.sent >= AT_LEAST[self.test], f"only {self.sent} generated requests"
        print(f"{self.test}: {self.sent} generated requests")


class ErrorLog(logging.Handler):
    """Keeps every record of level ERROR or above, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def fuzzer(
    request: pytest.FixtureRequest,
    serving: Any,
    api: Any,
    jp_serverapp: Any,
    jp_base_url: str,
    jp_asyncio_loop: Any,
) -> Iterator[Fuzzer]:
    """A server whose kernel serves a streaming model 'chat' and a one-shot model 'tensor'."""

    errors = ErrorLog()
    serving(models.CHAT.serve("chat") + models.TENSOR.serve("tensor"), "chat", "tensor")
    logging.getLogger().addHandler(errors)
    try:
        app = jp_serverapp.web_app
        yield Fuzzer(api, jp_asyncio_loop, app, jp_base_url, request.node.name, errors.records)
    finally:
        logging.getLogger().removeHandler(errors)


# -- strategies -------------------------------------------------------------------------------

ANY_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=24),  # lone surrogates too
    st.sampled_from(["", "\x00", "\ud800", "\udfff\ud800", "a\udc80", "\u202e", "\U0001f916"]),
)
INPUT_NAMES = ["prompt", "n", "big", "flag", "x", "grid", "label"]
KEYS = st.one_of(
    st.sampled_from([*INPUT_NAMES, "inputs", "parameters", "id", "token", "", "Prompt"]),
    ANY_TEXT,
)
SPECIAL_INTS = [
    *(0, -1, 1, 2, 3, 127, 128, -128, -129, 255, 256),
    *(2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64),
    *(10**30, -(10**30), 10**400, -(10**400)),
]
SPECIAL_FLOATS = [0.5, -0.0, 1.5, 65504.0, 65520.0, 1e308, -1e308, 5e-324, 2.0**63]
NUMBERS = st.one_of(
    st.integers(-300, 300),
    st.integers(),
    st.sampled_from(SPECIAL_INTS),
    st.floats(),  # NaN and ±Infinity are sent as the bare literals json.dumps writes
    st.sampled_from(SPECIAL_FLOATS),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, ANY_TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=16,
)
DATATYPES = ["STRING", "BYTES", "BOOL", "INT8", "INT64", "UINT8", "FP16", "FP32", "FP64", "BF16"]

CHAT_BODY = st.fixed_dictionaries(
    {"prompt": st.one_of(ANY_TEXT, VALUES)},
    optional={
        "n": st.one_of(NUMBERS, VALUES),
        "big": st.one_of(NUMBERS, VALUES),
        "flag": st.one_of(st.booleans(), VALUES),
        "colour": VALUES,
    },
)
TENSOR_BODY = st.fixed_dictionaries(
    {"label": st.one_of(ANY_TEXT, VALUES)},
    optional={
        "x": st.one_of(st.lists(NUMBERS, max_size=8), VALUES),
        "grid": st.one_of(
            st.lists(st.lists(NUMBERS, min_size=2, max_size=2), min_size=2, max_size=2),
            st.lists(NUMBERS, max_size=6),
            VALUES,
        ),
    },
)
SHAPES = st.one_of(
    st.lists(st.one_of(st.integers(-2, 5), st.sampled_from([10**30, 2**64, True])), max_size=3),
    VALUES,
)
V2_TENSOR = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(INPUT_NAMES), VALUES),
        "shape": SHAPES,
        "datatype": st.one_of(st.sampled_from([*DATATYPES, "int8", "FP8", ""]), VALUES),
        "data": st.one_of(st.lists(st.one_of(NUMBERS, ANY_TEXT, st.booleans())), VALUES),
        "parameters": VALUES,
    },
)
V2_BODY = st.fixed_dictionaries(
    {"inputs": st.one_of(st.lists(V2_TENSOR, max_size=4), VALUES)},
    optional={"id": VALUES, "outputs": VALUES},
)
OBJECTS = st.one_of(
    CHAT_BODY,
    TENSOR_BODY,
    V2_BODY,
    st.one_of(CHAT_BODY, TENSOR_BODY, VALUES).map(lambda inner: {"parameters": inner}),
    st.tuples(CHAT_BODY, CHAT_BODY).map(lambda two: {"parameters": two[0], **two[1]}),
    st.dictionaries(KEYS, VALUES, max_size=6),
    VALUES,
)


def _encode(value: Any) -> bytes:
    # NaN and ±Infinity become the bare literals; lone surrogates become \\udXXX escapes.
    return json.dumps(value).encode()


def _nest(depth: int, opener: bytes, closer: bytes, core: bytes = b"1") -> bytes:
    return opener * depth + core + closer * depth


DEPTHS = st.one_of(st.integers(1, 5000), st.sampled_from([10, 100, 500, 900, 1000, 3000, 20000]))


def _break_utf8(raw: bytes, at: int, byte: int) -> bytes:
    at %= max(1, len(raw))
    return raw[:at] + bytes([byte]) + raw[at:]


LITERALS = st.one_of(
    st.sampled_from(
        [
            *(b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"nan", b"inf"),
            *(b"1e309", b"-1e309", b"1e308", b"1E400", b"1.0e-400", b"-0", b"0e0", b"01"),
            *(b"1" + b"0" * 30, b"-1" + b"0" * 30, b"1" + b"0" * 400, b"-" + b"9" * 400),
            *(b"9" * 5000, b"0." + b"1" * 5000, b"true", b"null", b'"\\ud800"', b'"\\u0000"'),
            *(b'"\\udfff\\ud800"', b'"\\x41"', b"'single'", b"[1,]", b"{,}", b"+1", b".5"),
        ]
    ),
    DEPTHS.map(lambda d: _nest(d, b"[", b"]")),
    DEPTHS.map(lambda d: _nest(d, b'{"a":', b"}")),
    DEPTHS.map(lambda d: b"[" * d),
)
SPLICED = st.tuples(
    st.sampled_from(
        [
            b'{"prompt": "x", "n": %s}',
            b'{"prompt": %s}',
            b'{"prompt": "x", "big": %s}',
            b'{"label": "x", "x": [%s]}',
            b'{"label": "x", "grid": [[1, %s], [3, 4]]}',
            b'{"parameters": {"prompt": "x", "n": %s}}',
            b'{"inputs": [{"name": "x", "datatype": "FP16", "shape": [1], "data": [%s]}]}',
            b'{"inputs": [{"name": "prompt", "data": [%s]}]}',
            b"%s",
        ]
    ),
    LITERALS,
).map(lambda pair: pair[0] % pair[1])
MALFORMED = st.one_of(
    st.tuples(OBJECTS.map(_encode), st.integers(0, 2000)).map(
        lambda pair: pair[0][: pair[1] % max(1, len(pair[0]))]  # truncated
    ),
    st.tuples(
        OBJECTS.map(_encode),
        st.one_of(
            st.sampled_from([b"}", b",", b"x", b" {}", b"\x00", b"\xff", b"]]"]), st.binary()
        ),
    ).map(lambda pair: pair[0] + pair[1]),  # trailing garbage
    OBJECTS.map(lambda value: b"\xef\xbb\xbf" + _encode(value)),  # a UTF-8 byte order mark
    OBJECTS.map(
        lambda value: json.dumps(value, ensure_ascii=False).encode("utf-16", "surrogatepass")
    ),
    st.builds(
        _break_utf8, OBJECTS.map(_encode), st.integers(0, 2000), st.sampled_from(b"\xff\xc3\xed")
    ),
    st.binary(max_size=64),
    st.sampled_from([b"", b" ", b"\t\r\n", b"{}", b"[]", b'""', b"null", b"0"]),
)
BODIES = st.one_of(OBJECTS.map(_encode), SPLICED, MALFORMED)
POST_PATHS = st.sampled_from(
    [
        f"{model}/{version}{endpoint}"
        for model in (CHAT, TENSOR)
        for version in ("", "versions/1/", "versions/x/")
        for endpoint in ("infer", "generate", "generate_stream")
    ]
)
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40
)


def _segment(text: str) -> str:
    """Percent-encode a path segment, sending lone surrogates as their raw UTF-8 bytes."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


NAME_SEGMENTS = st.one_of(
    st.sampled_from(
        [
            *("chat", "tensor", "CHAT", ".", "..", "...", "-bad", "_x", "a" * 64, "a" * 65),
            *("a" * 3000, "%2e%2e", "%2E%2E%2F", "..%2F..", "%2F", "a%2Fb", "%00", "%25", "%%"),
            *("%ff", "%c3", "%c3%a9", "%e2%80%ae", "%zz", "chat%20", "%20chat", "chat;x", "chat,"),
            *("null", "0", "~", "chat.json", "tensor@1", "ch%61t"),
        ]
    ),
    ANY_TEXT.filter(bool).map(_segment),
    st.text(st.sampled_from("ab.-_%2Fe0"), min_size=1, max_size=12),
)


def _routes(name: str) -> list[tuple[str, str]]:
    """(method, path) of every route, for a model called ``name`` (already encoded)."""
    model = f"inferless/v2/models/{name}"
    return [
        ("GET", model),
        ("GET", f"{model}/versions/1"),
        ("GET", f"{model}/ready"),
        ("GET", f"{model}/versions/{name}/ready"),
        ("POST", f"{model}/infer"),
        ("POST", f"{model}/generate"),
        ("POST", f"{model}/generate_stream"),
        ("POST", f"{model}/versions/1/generate_stream"),
        ("GET", f"{model}/generate_stream?prompt=x&label=y"),
    ]


STATIC_ROUTES = {
    "inferless/v2/health/live": {"GET"},
    "inferless/v2/health/ready": {"GET"},
    "inferless/api/models": {"GET"},
    CHAT: {"GET"},
    f"{CHAT}/versions/1": {"GET"},
    f"{CHAT}/ready": {"GET"},
    f"{TENSOR}/versions/1/ready": {"GET"},
    f"{TENSOR}/infer": {"POST"},
    f"{TENSOR}/generate": {"POST"},
    f"{CHAT}/generate_stream": {"GET", "POST"},
    f"{CHAT}/versions/1/generate_stream": {"GET", "POST"},
    "inferless/api/streams/0123456789abcdef0123456789abcdef": {"GET", "DELETE"},
}
METHODS = st.sampled_from(
    ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PROPFIND", "FOO"]
)
QUERY_KEYS = st.one_of(
    st.sampled_from([*INPUT_NAMES, "token", "last_event_id", "inputs", "parameters", "", "N"]),
    ANY_TEXT,
)
QUERY_VALUES = st.one_of(
    st.sampled_from(
        [
            *("", "x", "1", "-1", "3", "127", "128", "-129", "1e309", "-1e309", "nan", "NaN"),
            *("inf", "-Infinity", "1e308", str(10**30), str(-(10**30)), "9" * 5000, "true"),
            *("false", "yes", "TRUE", "0x10", " 1 ", "1_000", "\u0661\u0662", "\x00", "null"),
            *("[1]", '{"a": 1}', "1.5", "65504", "65505", "\ud800"),
        ]
    ),
    ANY_TEXT,
)


def _query(pairs: list[tuple[str, str]]) -> str:
    def enc(text: str) -> str:
        return quote(text.encode("utf-8", "surrogatepass"), safe="")

    return "&".join(f"{enc(key)}={enc(value)}" for key, value in pairs)


QUERIES = st.one_of(
    st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=6).map(_query),
    st.tuples(
        st.sampled_from(["prompt=hi", "label=hi", "prompt=hi&n=2", "label=a&x=1&x=2.5"]),
        st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=3).map(_query),
    ).map(lambda pair: "&".join(part for part in pair if part)),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#")).map(
        lambda raw: quote(raw, safe="=&%+;,/:@!$'()*")
    ),  # raw, possibly broken escapes
)
LAST_EVENT_IDS = st.one_of(
    st.sampled_from(["", " ", "-1", "-2", "0", "1", "2", "3", "4", "99", "1e3", "0x1", "+1"]),
    st.sampled_from([" 2 ", "9" * 30, "-" + "9" * 30, "abc", "null", "1.0", "1_0"]),
    st.integers(-5, 10).map(str),
    HEADER_TEXT,
)
ASCII_INT = re.compile(r"[ \t]*-?[0-9]+[ \t]*")


# -- the fuzz tests ---------------------------------------------------------------------------


def test_fuzz_post_bodies(fuzzer: Fuzzer) -> None:
    """Generated JSON, malformed JSON and odd literals POSTed to every POST endpoint."""

    @settings(FUZZ, max_examples=800)
    @given(path=POST_PATHS, body=BODIES)
    def run(path: str, body: bytes) -> None:
        fuzzer.fuzz("POST", path, body)

    run()
    fuzzer.finish()


def test_fuzz_oversized_bodies(fuzzer: Fuzzer) -> None:
    """Bodies around max_body_bytes: 413 JSON just over it, never a 413 at or under it."""

    @settings(FUZZ, max_examples=100)
    @given(path=POST_PATHS, extra=st.one_of(st.integers(-64, 2048), st.just(1), st.just(0)))
    def run(path: str, extra: int) -> None:
        size = MAX_BODY + extra
        padding = size - len(b'{"prompt": ""}')
        body = b'{"prompt": "' + b"a" * padding + b'"}'
        assert len(body) == size
        result = fuzzer.fuzz("POST", path, body)
        if size > MAX_BODY:
            assert result.status == 413, result.body[:200]
        else:
            assert result.status != 413, result.body[:200]

    run()
    huge = fuzzer.fuzz("POST", f"{CHAT}/generate_stream", b" " * (MAX_BODY * 16) + b"{}")
    assert huge.status == 413
    fuzzer.finish()


def test_fuzz_get_stream_queries(fuzzer: Fuzzer) -> None:
    """Random query strings (and Last-Event-ID headers) on the GET form of the stream."""

    @settings(FUZZ, max_examples=400)
    @given(
        model=st.sampled_from([CHAT, TENSOR, f"{CHAT}/versions/1", f"{TENSOR}/versions/2"]),
        query=QUERIES,
        last_event_id=st.none() | LAST_EVENT_IDS,
    )
    def run(model: str, query: str, last_event_id: str | None) -> None:
        headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
        path = f"{model}/generate_stream" + (f"?{query}" if query else "")
        fuzzer.fuzz("GET", path, headers=headers)

    run()
    fuzzer.finish()


def test_fuzz_model_names(fuzzer: Fuzzer) -> None:
    """Random model names ('..', unicode, very long, percent-encoded) on every model route."""

    @settings(FUZZ, max_examples=300)
    @given(name=NAME_SEGMENTS, pick=st.integers(0, len(_routes("x")) - 1))
    def run(name: str, pick: int) -> None:
        method, path = _routes(name)[pick]
        body = b'{"prompt": "x", "label": "y"}' if method == "POST" else None
        fuzzer.fuzz(method, path, body)

    run()
    fuzzer.finish()


def test_fuzz_methods(fuzzer: Fuzzer) -> None:
    """Every route with random methods: a method a route does not support is a 405."""

    @settings(FUZZ, max_examples=160)
    @given(
        route=st.sampled_from(sorted(STATIC_ROUTES)),
        method=METHODS,
        body=st.none() | st.sampled_from([b"", b"{}", b'{"prompt": "x"}', b"\xff"]),
    )
    def run(route: str, method: str, body: bytes | None) -> None:
        result = fuzzer.fuzz(method, route, body)
        if method not in STATIC_ROUTES[route] and method != "OPTIONS":
            assert result.status == 405, (method, route, result.status, result.body[:200])

    run()
    fuzzer.finish()


def _resume_rule(last: str | None) -> str | int | None:
    """What resuming the finished 3-event stream after ``last`` must answer.

    "all" (no id: replay everything), "bad" (not an integer: 400), an id, or None
    where no rule is pinned (unicode digits, underscores, ids out of range).
    """
    if last is None or not last.strip(" \t"):
        return "all"
    if ASCII_INT.fullmatch(last):
        return int(last)
    if last.isascii() and set(last) - set("0123456789+-_ \t"):
        return "bad"
    return None


def test_fuzz_stream_resource(fuzzer: Fuzzer) -> None:
    """GET/DELETE on inferless/api/streams/ID: random ids, Last-Event-ID headers and queries."""
    made = fuzzer.send("POST", f"{CHAT}/generate_stream", {"prompt": "kept", "n": 3})
    assert made.status == 200 and len(made.events) == 3
    rid = made.headers["X-Request-Id"]
    ids = st.one_of(
        st.just(rid),
        st.just(rid.upper()),
        st.sampled_from([rid + "0", rid[:-1], "0" * 32, "..", "%2e%2e", "%ff", "x" * 3000]),
        st.text("0123456789abcdef", min_size=1, max_size=40),
        ANY_TEXT.filter(bool).map(_segment),
    )

    @settings(FUZZ, max_examples=300)
    @given(
        stream_id=ids,
        method=st.sampled_from(["GET", "GET", "DELETE", "POST", "PUT"]),
        last=st.none() | LAST_EVENT_IDS,
        in_query=st.booleans(),
    )
    def run(stream_id: str, method: str, last: str | None, in_query: bool) -> None:
        path = f"inferless/api/streams/{stream_id}"
        headers: dict[str, str] = {}
        if last is not None and in_query:
            path += "?last_event_id=" + quote(last, safe="")
        elif last is not None:
            headers["Last-Event-ID"] = last
        result = fuzzer.fuzz(method, path, headers=headers)
        where = (method, stream_id[:80], last, result.status, result.body[:200])
        rule = _resume_rule(last)
        if method in ("POST", "PUT"):
            assert result.status == 405 or (result.status == 400 and stream_id != rid), where
        elif stream_id != rid:
            assert result.status in (400, 404), where  # 400: not a valid path (bad UTF-8)
        elif method == "DELETE":
            assert result.status == 200, where  # the stream has ended: nothing to cancel
        elif rule == "bad":
            assert result.status == 400, where
        elif rule == "all" or rule in (-1, 0, 1):
            first = 0 if rule == "all" else int(rule) + 1
            assert result.status == 200, where
            assert [event.position for event in result.events] == list(range(first, 3))
        elif rule == 2:
            assert result.status == 204, where  # everything was delivered

    run()
    fuzzer.finish()


def test_fuzz_credentials(fuzzer: Fuzzer, jp_http_port: int) -> None:
    """Random Authorization headers, ?token= values and cookies never authenticate."""
    requests_before = fuzzer.counters()

    cookie_text = st.text(st.sampled_from("abcdefXYZ0123456789|:-_="), max_size=60)
    credentials = st.one_of(
        st.builds(lambda value: {"Authorization": value}, HEADER_TEXT),
        st.builds(
            lambda scheme, value: {"Authorization": f"{scheme} {value}"},
            st.sampled_from(["token", "Token", "Bearer", "bearer", "Basic"]),
            HEADER_TEXT,
        ),
        st.builds(lambda value: {"?token": value}, HEADER_TEXT),
        st.builds(
            lambda value: {"Cookie": f"username-127-0-0-1-{jp_http_port}={value}"}, cookie_text
        ),
    )

    routes = [(method, route) for route, methods in STATIC_ROUTES.items() for method in methods]

    @settings(FUZZ, max_examples=200)
    @given(route=st.sampled_from(sorted(routes)), creds=credentials)
    def run(route: tuple[str, str], creds: dict[str, str]) -> None:
        if fuzzer.token in "".join(creds.values()):
            return
        method, path = route
        headers = dict(creds)
        if "?token" in headers:
            path += "?token=" + quote(headers.pop("?token"), safe="")
        result = fuzzer.fuzz(method, path, b'{"prompt": "x"}', headers=headers, auth=False)
        assert result.status == 403, (creds, method, path, result.status, result.body[:200])
        assert not result.events

    run()
    assert fuzzer.counters() == requests_before  # nothing reached a model
    fuzzer.finish()


def test_the_fuzz_tests_send_at_least_1000_requests_between_them() -> None:
    """Each fuzz test checks it sent its share (AT_LEAST); the shares make 1,000 or more."""
    assert set(AT_LEAST) == {name for name in globals() if name.startswith("test_fuzz_")}
    assert sum(AT_LEAST.values()) >= 1000


FP16_HUGE_INT = b"1" + b"0" * 400  # an integer too large for a float
CRASHERS = [
    pytest.param(f"{CHAT}/generate_stream", b"[" * 50000, {400}, id="unclosed-arrays-50000-deep"),
    pytest.param(f"{CHAT}/generate_stream", _nest(2000, b"[", b"]"), {400}, id="arrays-2000-deep"),
    pytest.param(
        f"{TENSOR}/generate", b'{"label": "a", "x": [%s]}' % FP16_HUGE_INT, {400}, id="fp16-1e400"
    ),
    pytest.param(
        f"{TENSOR}/infer",
        b'{"inputs": [{"name": "label", "data": ["a"]}, {"name": "x", "data": [%s]}]}'
        % FP16_HUGE_INT,
        {400},
        id="v2-fp16-1e400",
    ),
    pytest.param(
        f"{CHAT}/generate_stream", b'{"prompt": "\\ud800"}', {200, 400}, id="lone-surrogate"
    ),
    pytest.param(
        f"{TENSOR}/generate", b'{"label": "\\udfff\\ud800"}', {200, 400}, id="swapped-surrogates"
    ),
]


@pytest.mark.parametrize(("path", "body", "statuses"), CRASHERS)
def test_inputs_found_by_fuzzing(
    fuzzer: Fuzzer, path: str, body: bytes, statuses: set[int]
) -> None:
    """Requests fuzzing turned up: each is refused with 4xx JSON (or served), time after time."""
    for _ in range(20):  # more than a model's capacity (1 running + 16 queued by default)
        result = fuzzer.send("POST", path, body)
        fuzzer.check("POST", path, result)
        assert result.status in statuses, result.body[:300]
    fuzzer.assert_serving()


@pytest.mark.parametrize(
    ("method", "path", "body", "quoted"),
    [
        ("GET", "inferless/v2/models/100%25", None, "'100%'"),
        ("GET", f"{CHAT}/generate_stream?prompt=x&50%25=1", None, "'50%'"),
        ("POST", f"{CHAT}/generate_stream", b'{"prompt": "x", "n%": 1}', "'n%'"),
        ("POST", f"{TENSOR}/generate", b'{"label": "x", "%s": 1}', "'%s'"),
    ],
)
def test_refusals_quote_names_as_sent(
    fuzzer: Fuzzer, method: str, path: str, body: bytes | None, quoted: str
) -> None:
    """A '%' in a model or input name is quoted as it was sent, not doubled."""
    result = fuzzer.send(method, path, body)
    fuzzer.check(method, path, result)
    assert result.status == 400
    assert quoted in json.loads(result.body)["error"]
