"""Strict inputs over real HTTP: query values, resume ids, what a schema-less model gets.

Each refusal is a 400 that names the input (or the id) and the problem; what passes
reaches the kernel unchanged.
"""

from __future__ import annotations

import json
import textwrap
from urllib.parse import quote

import pytest

from tests.support.models import CHAT, PACED, RAISES, TENSOR, Model
from tests.support.sse_reader import read_stream

ECHOES = Model(
    "Echoes",
    """
    import json

    class Echoes:
        '''No schema: one event, the JSON of the inputs as the model got them.'''

        def infer(self, inputs, stream_output_handler):
            stream_output_handler.send_streamed_output({"got": json.dumps(inputs)})
            stream_output_handler.finalise_streamed_output()
    """,
)
MODELS = (
    CHAT.serve("chat")
    + TENSOR.serve("tensor")
    + textwrap.dedent(ECHOES.source)
    + 'jupyter_inferless.serve(Echoes, name="echoes")\n'
)


@pytest.fixture
def served(serving):
    """chat (prompt, n INT8, big INT64, flag BOOL), tensor (x FP16[-1], label) and echoes
    (no schema)."""
    return serving(MODELS, "chat", "tensor", "echoes")


def query_url(api, model: str, query: str) -> str:
    token = api.auth["Authorization"].split()[-1]
    return api.url(f"inferless/v2/models/{model}/generate_stream?{query}&token={token}")


@pytest.mark.parametrize(
    ("model", "query", "named", "says"),
    [
        ("chat", "prompt=a&n=1_0", "n", "expected an integer"),
        ("chat", "prompt=a&n=" + quote("\u0661"), "n", "expected an integer"),  # Arabic-Indic 1
        ("chat", "prompt=a&big=%2012", "big", "expected an integer"),
        ("tensor", "label=a&x=1_0.5", "x", "expected a number"),
        ("tensor", "label=a&x=nan", "x", "expected a number"),
        ("tensor", "label=a&x=infinity", "x", "expected a number"),
        ("tensor", "label=a&x=" + quote("\u0661.\u0665"), "x", "expected a number"),
        ("tensor", "label=a&x=1e400", "x", "too large to be a finite number"),
    ],
)
async def test_query_values_must_be_ascii_json(served, model, query, named, says):
    result = await read_stream(query_url(served, model, query), method="GET")
    assert result.status == 400, result.body
    error = json.loads(result.body)["error"]
    assert f"'{named}'" in error and says in error


async def test_query_values_in_ascii_decimal_still_run(served):
    url = query_url(served, "chat", "prompt=a&n=%2B2&flag=TRUE")
    result = await read_stream(url, method="GET")
    assert result.status == 200 and [e.json["i"] for e in result.events] == [0, 1]
    result = await read_stream(query_url(served, "tensor", "label=a&x=-1.5e2&x=3"), method="GET")
    assert result.status == 200 and result.outputs == [{"count": 2, "grid": [], "label": "a"}]


@pytest.mark.parametrize(
    ("raw", "named", "says"),
    [
        (b'{"x": "\\ud800"}', "x", "lone surrogate (U+D800)"),
        (b'{"x": ["a", "\\udc80"]}', "x", "lone surrogate (U+DC80)"),  # arrived as U+FFFD
        (b'{"x": {"k": "\\udfff"}}', "x", "lone surrogate"),
        (b'{"x": 1e400}', "x", "too large to be finite"),  # arrived as "inf"
        (b'{"parameters": {"x": [1, -1e999]}}', "x", "too large to be finite"),
        (b'{"inputs": [{"name": "x", "datatype": "FP64", "data": [1e400]}]}', "x", "finite"),
    ],
)
async def test_a_model_without_a_schema_gets_no_silent_substitute(served, raw, named, says):
    status, reply = await served.call(
        "inferless/v2/models/echoes/generate_stream", raw, method="POST"
    )
    assert status == 400, reply
    assert f"'{named}'" in reply["error"] and says in reply["error"]


async def test_a_model_without_a_schema_gets_what_json_carries_unchanged(served):
    raw = b'{"x": "\\ud83d\\ude00 \\u00e9", "y": [1e308, -0.0, 12345678901234567890]}'
    result = await served.stream("inferless/v2/models/echoes/generate_stream", raw)
    assert result.status == 200, result.body
    assert json.loads(result.outputs[0]["got"]) == json.loads(raw)


@pytest.fixture
def paced(serving):
    """paced (n events) and raises (one event, then an error) in the kernel."""
    return serving(PACED.serve("paced") + RAISES.serve("raises"), "paced", "raises")


async def test_resuming_after_an_id_never_sent_is_refused(paced):
    result = await paced.stream("inferless/v2/models/paced/generate_stream", {"n": 3})
    rid = result.headers["X-Request-Id"]
    assert [e.id for e in result.events] == [f"{rid}:0", f"{rid}:1", f"{rid}:2"]
    resource = f"inferless/api/streams/{rid}"
    for path, method in (("inferless/v2/models/paced/generate_stream", "POST"), (resource, "GET")):
        ahead = await paced.stream(path, {}, method, headers={"Last-Event-ID": f"{rid}:3"})
        assert ahead.status == 400, ahead.body  # RID:3 is one past the last id sent
        assert f"{rid}:3 was never sent" in json.loads(ahead.body)["error"]
        delivered = await paced.stream(path, {}, method, headers={"Last-Event-ID": f"{rid}:2"})
        assert delivered.status == 204, delivered.body
    assert (await paced.call(f"{resource}?last_event_id=3"))[0] == 400
    assert (await paced.call(f"{resource}?last_event_id=2"))[0] == 204


async def test_an_in_band_error_has_the_id_after_the_last_event(paced):
    result = await paced.stream("inferless/v2/models/raises/generate_stream", {})
    rid = result.headers["X-Request-Id"]
    assert [e.id for e in result.events] == [f"{rid}:0", f"{rid}:1"]  # the event, the error
    resource = f"inferless/api/streams/{rid}"
    after_error = await paced.stream(resource, method="GET", headers={"Last-Event-ID": "1"})
    assert after_error.status == 204
    assert (await paced.call(f"{resource}?last_event_id=2"))[0] == 400


@pytest.mark.parametrize("position", ["\u0663", "\uff13", "3"])
async def test_resume_ids_are_ascii_digits(paced, position):
    result = await paced.stream("inferless/v2/models/paced/generate_stream", {"n": 12})
    rid = result.headers["X-Request-Id"]
    last = quote(f"{rid}:{position}")
    status, reply = await paced.call(f"inferless/api/streams/{rid}?last_event_id={last}")
    if position == "3":  # ASCII: events 4.. are replayed
        assert status == 200
    else:  # int() reads each of the others as a number
        assert status == 400 and "is not an event id" in reply["error"], reply
