"""The Python client against a real server and kernel, through a proxy that cuts connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jupyter_inferless.client import Client, ModelError, RequestRejected, StreamError
from tests.support.models import PACED, RAISES, Model, paced_outputs, spec
from tests.support.server_config import server_config
from tests.support.tcp_proxy import CuttingProxy
from tests.support.waiting import until

RETRY_MS = 300
ADDER = Model(
    "Adder",
    """
    class Adder:
        def infer(self, inputs):
            return {"sum": inputs["a"] + inputs["b"], "words": [w.upper() for w in inputs["words"]]}
    """,
    {
        "a": spec("INT32"),
        "b": spec("FP32"),
        "words": {"datatype": "STRING", "required": True, "shape": [-1]},
    },
    streaming=False,
)
MODELS = (
    PACED.serve("paced", max_concurrency=1, queue_size=1)
    + RAISES.serve("raises")
    + ADDER.serve("adder")
)
ALL = paced_outputs(300)


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """A short retry hint (the client must honour it) and a small replay buffer."""
    return server_config(retry_ms=RETRY_MS, replay_events=64)


@pytest.fixture
def served(serving: Any) -> Any:
    """A kernel serving paced (one at a time, queue 1), raises and adder."""
    return serving(MODELS, "paced", "raises", "adder")


@pytest.fixture
def token(api: Any) -> str:
    return str(api.auth["Authorization"].split()[1])


@pytest.fixture
def proxy(jp_http_port: int, jp_asyncio_loop: Any) -> Iterator[CuttingProxy]:
    """A proxy to the server that cuts the first stream connection when told how."""
    proxy = jp_asyncio_loop.run_until_complete(CuttingProxy(jp_http_port).start())
    yield proxy
    jp_asyncio_loop.run_until_complete(proxy.close())


def noting_waits(stream: Any) -> list[float]:
    """The waits (s) the stream chooses before each reconnection, noted as it goes."""
    waits: list[float] = []
    choose = stream._failed

    def failed(cause: Exception) -> float:
        waits.append(choose(cause))
        return waits[-1]

    stream._failed = failed
    return waits


def read_noting_reconnects(stream: Any) -> list[tuple[Any, int]]:
    """Each output with the number of reconnections made before it arrived."""
    return [(output, stream.reconnects) for output in stream]


def assert_cut_mid_stream(noted: list[tuple[Any, int]]) -> list[Any]:
    """The outputs, after checking some arrived before the cut and some after."""
    after_cut = [reconnects for _, reconnects in noted].index(1)
    assert 10 < after_cut < len(noted) - 10, f"cut at event {after_cut}"
    return [output for output, _ in noted]


def assert_one_cut_then_resumed(proxy: CuttingProxy, stream: Any, waits: list[float]) -> None:
    assert len(proxy.cuts) == 1 and proxy.connections >= 2
    assert stream.reconnects == 1
    assert waits == [RETRY_MS / 1000], "the client waits the server's retry hint, once"


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_stream_resumes_after_a_cut_connection_exactly_once_in_order(
    served: Any, proxy: CuttingProxy, token: str, jp_base_url: str, reset: bool
) -> None:
    proxy.cut_after, proxy.reset = 2500, reset  # a few dozen events in
    with Client(proxy.url(jp_base_url), token) as client:
        stream = client.stream("paced", n=300, pause_ms=5)
        waits = noting_waits(stream)
        noted = await asyncio.to_thread(read_noting_reconnects, stream)
    assert assert_cut_mid_stream(noted) == ALL
    assert_one_cut_then_resumed(proxy, stream, waits)
    assert stream.last_event_id == 299 and stream.request_id


async def test_astream_resumes_after_a_cut_connection_exactly_once_in_order(
    served: Any, proxy: CuttingProxy, token: str, jp_base_url: str
) -> None:
    proxy.cut_after = 2500
    async with Client(proxy.url(jp_base_url), token) as client:
        stream = client.astream("paced", {"n": 300, "pause_ms": 5})
        waits = noting_waits(stream)
        noted = [(output, stream.reconnects) async for output in stream]
    assert assert_cut_mid_stream(noted) == ALL
    assert_one_cut_then_resumed(proxy, stream, waits)


async def test_a_cut_after_the_last_event_resumes_into_204_and_stops(
    served: Any, proxy: CuttingProxy, token: str, jp_base_url: str
) -> None:
    proxy.cut_at_end = True
    with Client(proxy.url(jp_base_url), token) as client:
        stream = client.stream("paced", n=5, pause_ms=0)
        waits = noting_waits(stream)
        outputs = await asyncio.to_thread(list, stream)
    assert outputs == ALL[:5]
    assert_one_cut_then_resumed(proxy, stream, waits)


async def test_events_gone_from_the_replay_buffer_raise_stream_error(
    served: Any, proxy: CuttingProxy, token: str, jp_base_url: str
) -> None:
    proxy.cut_after, proxy.hold_after_cut = 2000, True
    with Client(proxy.url(jp_base_url), token) as client:
        stream = client.stream("paced", n=300, pause_ms=1)
        reading = asyncio.ensure_future(asyncio.to_thread(list, stream))
        await until(lambda: proxy.held, "the cut client reconnecting")
        # another reader takes the rest, so the client's position leaves the 64-event buffer
        rest = await served.stream(
            f"inferless/api/streams/{stream.request_id}",
            method="GET",
            headers={"Last-Event-ID": str(stream.last_event_id)},
        )
        assert rest.outputs[-1] == ALL[-1]
        proxy.release()
        with pytest.raises(StreamError) as info:
            await reading
    assert info.value.status == 410 and "its events were lost" in str(info.value)
    assert info.value.last_event_id == stream.last_event_id < 100


async def test_in_band_error_raises_model_error_after_the_outputs(served: Any, token: str) -> None:
    outputs: list[Any] = []

    def read() -> None:
        with Client(served.base, token) as client, client.stream("raises") as stream:
            outputs.extend(stream)

    with pytest.raises(ModelError) as info:
        await asyncio.to_thread(read)
    assert outputs == [{"OUT": "a"}]
    assert (info.value.type, info.value.message) == ("ValueError", "bad <weights>")
    assert info.value.kind == "model_error" and info.value.request_id


async def test_refusals_raise_request_rejected_with_the_servers_message(
    served: Any, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUPYTER_INFERLESS_TOKEN", raising=False)
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)

    def refused(client: Client, model: str, **inputs: Any) -> RequestRejected:
        with pytest.raises(RequestRejected) as info:
            client.stream(model, **inputs).start()
        return info.value

    def calls() -> list[RequestRejected]:
        with Client(served.base, token) as client, Client(served.base) as anonymous:
            return [
                refused(client, "nope"),
                refused(client, "paced", n="many", pause_ms=1),
                refused(anonymous, "paced", n=1, pause_ms=1),
            ]

    missing, invalid, anonymous = await asyncio.to_thread(calls)
    assert missing.status == 404 and "no model named 'nope'" in missing.message
    assert invalid.status == 400 and "input 'n'" in invalid.message
    assert anonymous.status == 403
    assert [missing.kind, invalid.kind, anonymous.kind] == [
        "model_not_found",
        "input_error",
        "forbidden",
    ]


async def test_cancel_ends_the_stream_and_a_full_queue_says_when_to_retry(
    served: Any, token: str
) -> None:
    def scenario() -> tuple[list[Any], ModelError, RequestRejected, dict[str, Any]]:
        with Client(served.base, token) as client:
            running = client.stream("paced", n=3000, pause_ms=10).start()
            queued = client.stream("paced", n=1, pause_ms=0).start()
            with pytest.raises(RequestRejected) as busy:
                client.stream("paced", n=1, pause_ms=0).start()
            outputs: list[Any] = []
            reply: dict[str, Any] = {}
            with pytest.raises(ModelError) as cancelled:
                for output in running:
                    outputs.append(output)
                    if len(outputs) == 10:
                        assert running.request_id is not None
                        reply = client.cancel(running.request_id)
            assert list(queued) == ALL[:1]
            return outputs, cancelled.value, busy.value, reply

    outputs, cancelled, busy, reply = await asyncio.to_thread(scenario)
    assert reply["cancelled"] is True
    assert outputs == ALL[: len(outputs)] and len(outputs) < 100
    assert (cancelled.type, cancelled.kind) == ("cancelled", "cancelled")
    assert (busy.status, busy.kind, busy.retry_after) == (429, "busy", 1.0)


async def test_models_and_infer(served: Any, token: str) -> None:
    def calls() -> tuple[list[dict[str, Any]], dict[str, Any], RequestRejected]:
        with Client(served.base, token) as client:
            with pytest.raises(RequestRejected) as streaming:
                client.infer("paced", n=1, pause_ms=0)
            return (
                client.models(),
                client.infer("adder", a=2, b=0.5, words=["x", "y"]),
                streaming.value,
            )

    models, reply, streaming = await asyncio.to_thread(calls)
    by_name = {model["name"]: model for model in models}
    assert set(by_name) == {"paced", "raises", "adder"}
    assert by_name["paced"]["schema"]["streaming"] is True
    inputs = by_name["paced"]["schema"]["inputs"]
    assert [spec["name"] for spec in inputs] == ["n", "pause_ms", "prefix"]
    assert reply == {"sum": 2.5, "words": ["X", "Y"]}
    assert (streaming.status, streaming.kind) == (400, "model_streams")
    assert "Client.stream" in streaming.message


async def test_production_style_url_with_bearer_auth_and_token_from_the_environment(
    served: Any, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_INFERLESS_TOKEN", token)

    def calls() -> tuple[list[Any], dict[str, Any]]:
        base = served.base + "inferless/"  # like https://…inferless.com/ serving /v2/models/…
        with Client(base, api_prefix="", auth_scheme="Bearer") as client:
            outputs = list(client.stream("paced", n=3, pause_ms=0))
            return outputs, client.infer("adder", a=1, b=2, words=[])

    outputs, reply = await asyncio.to_thread(calls)
    assert outputs == ALL[:3]
    assert reply == {"sum": 3.0, "words": []}


async def test_acancel_from_astream(served: Any, token: str) -> None:
    outputs: list[Any] = []
    async with Client(served.base, token) as client:
        stream = await client.astream("paced", n=3000, pause_ms=10).start()
        assert stream.request_id is not None
        with pytest.raises(ModelError) as info:
            async for output in stream:
                outputs.append(output)
                if output == ALL[3]:
                    await client.acancel(stream.request_id)
    assert (info.value.type, info.value.kind) == ("cancelled", "cancelled")
    assert info.value.request_id == stream.request_id
    assert outputs == paced_outputs(len(outputs)) and 4 <= len(outputs) < 1000, len(outputs)


# -- decided by the kind, never by the message (no server: httpx's MockTransport) ----------


def mock_client(answer: Any) -> Client:
    """A client whose every request ``answer(request)`` answers."""
    return Client("http://jupyter/", "t", transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(
    ("body", "hinted"),
    [
        ({"error": "model 'm' needs generate_stream", "kind": "input_error"}, False),
        ({"error": "this one streams", "kind": "model_streams"}, True),
        ({"error": "model 'm' streams; POST to .../generate_stream"}, False),  # no kind
    ],
)
def test_infer_points_a_streaming_model_to_stream_by_the_kind(
    body: dict[str, str], hinted: bool
) -> None:
    client = mock_client(lambda request: httpx.Response(400, json=body))
    with client, pytest.raises(RequestRejected) as info:
        client.infer("m", x=1)
    assert info.value.kind == body.get("kind", "")
    assert info.value.message.startswith(body["error"])
    assert ("use Client.stream" in info.value.message) is hinted


def test_a_refusal_that_is_not_json_has_no_kind() -> None:
    page = "<html>502 Bad Gateway</html>"
    client = mock_client(lambda request: httpx.Response(502, text=page))
    with client, pytest.raises(RequestRejected) as info:
        client.models()
    assert (info.value.status, info.value.kind, info.value.message) == (502, "", page)


class CutStream(httpx.SyncByteStream):
    """A body whose connection drops after ``content``."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def __iter__(self) -> Iterator[bytes]:
        yield self.content
        raise httpx.ReadError("connection reset by peer")


def sse_answer(*events: dict[str, Any], cut: bool = False) -> Any:
    """An event stream of ``events``, then its end (``cut``: its connection drops)."""
    lines = [
        b"id: rid:%d\ndata: %s\n\n" % (n, json.dumps(e).encode()) for n, e in enumerate(events)
    ]
    body = b"".join(lines)
    headers = {"Content-Type": "text/event-stream", "X-Request-Id": "rid"}
    if cut:
        return lambda request: httpx.Response(200, headers=headers, stream=CutStream(body))
    return lambda request: httpx.Response(200, headers=headers, content=body)


@pytest.mark.parametrize(
    ("event", "kind", "type_", "message"),
    [
        ({"error": "Boom: x", "kind": "kernel_gone", "type": "Boom"}, "kernel_gone", "Boom", "x"),
        ({"error": "Looks: typed", "kind": "cancelled", "type": ""}, "cancelled", "", "Looks: typed"),  # noqa: E501
        ({"error": "Other: x", "kind": "model_error", "type": "Boom"}, "model_error", "Boom", "Other: x"),  # noqa: E501
        ({"error": "ValueError: x"}, "model_error", "", "ValueError: x"),  # Triton's, no kind
    ],
)  # fmt: skip
def test_an_in_band_error_is_read_from_its_fields(
    event: dict[str, Any], kind: str, type_: str, message: str
) -> None:
    with mock_client(sse_answer({"OUT": "a"}, event)) as client:
        stream = client.stream("m")
        with pytest.raises(ModelError) as info:
            list(stream)
    assert (info.value.kind, info.value.type, info.value.message) == (kind, type_, message)
    assert str(info.value) == event["error"] and stream.delivered == 1


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (410, {"error": "gone", "kind": "events_evicted"}, "its events were lost"),
        (404, {"error": "no stream 'rid'", "kind": "not_found"}, "the server does not know it"),
        (400, {"error": "Last-Event-ID names another stream", "kind": "bad_request"}, "another"),
        (404, {"error": "Not Found"}, "Not Found"),  # a proxy's, with no kind
    ],
)
def test_a_refused_resume_ends_the_stream_said_by_its_kind(
    status: int, body: dict[str, str], says: str
) -> None:
    first = sse_answer({"OUT": "a"}, cut=True)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # the resume
            return httpx.Response(status, json=body)
        response: httpx.Response = first(request)
        return response

    with mock_client(answer) as client:
        stream = client.stream("m")
        stream.retry_ms = 0
        with pytest.raises(StreamError) as info:
            list(stream)
    assert info.value.status == status and says in str(info.value)
    assert info.value.last_event_id == 0
