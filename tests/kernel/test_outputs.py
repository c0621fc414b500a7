"""Outputs become one JSON line; drift from the first event is refused, naming the key."""

from __future__ import annotations

import json
import math

import pytest

from jupyter_inferless.contract import OutputError, StreamCancelled, StreamFinishedError
from jupyter_inferless.kernel.model import ModelAdapter, OutputChecker, StreamOutputHandler


class ListSink:
    def __init__(self):
        self.lines: list[str] = []
        self.ends: list[dict[str, str] | None] = []

    def event(self, line):
        self.lines.append(line)

    def end(self, error):
        self.ends.append(error)


class FakeArray:
    """Duck-typed like numpy/torch values (dtype + tolist)."""

    dtype = "float32"

    def __init__(self, value):
        self.value = value

    def tolist(self):
        return self.value


def test_outputs_are_single_json_lines():
    line = OutputChecker().encode({"OUT": "a\nb", "n": 1, "ok": True, "xs": [1.5, None]})
    assert "\n" not in line
    assert json.loads(line) == {"OUT": "a\nb", "n": 1, "ok": True, "xs": [1.5, None]}


def test_numpy_like_values_are_converted():
    line = OutputChecker().encode({"score": FakeArray(0.5), "v": FakeArray([1, 2])})
    assert json.loads(line) == {"score": 0.5, "v": [1, 2]}


@pytest.mark.parametrize(
    ("output", "says"),
    [
        ({"x": object()}, "not JSON; convert it"),
        ({"x": math.nan}, "JSON cannot carry"),
        ({1: "a"}, "keys must be strings"),
        ("text", "takes a dict"),
    ],
)
def test_unserialisable_outputs_say_how_to_fix(output, says):
    with pytest.raises(OutputError, match=says):
        OutputChecker().encode(output)


@pytest.mark.parametrize(
    ("second", "says"),
    [
        ({"OUT": "b"}, "'score' is missing"),
        ({"OUT": "b", "score": 1, "extra": 2}, "'extra' is new"),
        ({"OUT": 3, "score": 1}, "'OUT' changed from string to number"),
    ],
)
def test_drift_from_the_first_event_names_the_key(second, says):
    checker = OutputChecker()
    checker.encode({"OUT": "a", "score": 0.5})
    with pytest.raises(OutputError, match=says):
        checker.encode(second)


@pytest.mark.parametrize(
    ("later", "says"),
    [
        ({"OUT": "b", "score": math.inf}, "JSON cannot carry"),
        ({"OUT": "b", "score": math.nan}, "JSON cannot carry"),
        ({"OUT": True, "score": 1}, "'OUT' changed from string to boolean"),
        ({"OUT": "b", "score": object()}, "not JSON; convert it"),
    ],
)
def test_later_events_are_checked_as_fully_as_the_first(later, says):
    checker = OutputChecker()
    for n in range(3):
        checker.encode({"OUT": f"a{n}", "score": n / 2})
    with pytest.raises(OutputError, match=says):
        checker.encode(later)


def test_plain_later_events_encode_as_the_first_does():
    first = {"OUT": "héllo\n", "n": 1, "ok": False, "note": None, "p": 0.25}
    later = [
        {"OUT": "wörld", "n": 2, "ok": True, "note": None, "p": 1e-9},
        {"OUT": "", "n": -3, "ok": False, "note": "x", "p": 7},  # null -> string is allowed
        {"OUT": "z", "n": 10**20, "ok": True, "note": None, "p": 0.5},
    ]
    checker = OutputChecker()
    lines = [checker.encode(output) for output in [first, *later]]
    assert [json.loads(line) for line in lines] == [first, *later]
    assert lines[1] == '{"OUT":"wörld","n":2,"ok":true,"note":null,"p":1e-09}'
    assert checker.count == 4


def test_int_then_float_is_the_same_kind():
    checker = OutputChecker()
    checker.encode({"progress": 0})
    checker.encode({"progress": 0.5})


def test_handler_ends_the_stream_on_drift_and_after_finalise_refuses():
    sink = ListSink()
    handler = StreamOutputHandler(sink)
    handler.send_streamed_output({"OUT": "a"})
    with pytest.raises(OutputError):
        handler.send_streamed_output({"OTHER": "b"})
    assert sink.ends == [
        {
            "kind": "output_error",
            "type": "OutputError",
            "message": "OutputError: event 1: output key 'OUT' is missing; every event of a "
            "stream must have the keys and types of the first (OUT: string)",
        }
    ]
    with pytest.raises(StreamFinishedError):
        handler.send_streamed_output({"OUT": "c"})
    handler.finalise_streamed_output()
    assert len(sink.ends) == 1


def test_cancel_raises_a_base_exception_in_the_model():
    import threading

    cancelled = threading.Event()
    handler = StreamOutputHandler(ListSink(), cancelled)
    cancelled.set()
    with pytest.raises(StreamCancelled):
        handler.send_streamed_output({"OUT": "a"})
    assert not issubclass(StreamCancelled, Exception)


def test_adapter_accepts_every_signature():
    class OneShot:
        def infer(self, inputs):
            return {"y": inputs["x"] * 2}

        def finalize(self, args):
            self.done = args

    class Async:
        async def infer(self, inputs, stream_output_handler):
            stream_output_handler.send_streamed_output({"y": 1})
            stream_output_handler.finalise_streamed_output()

    sink = ListSink()
    one = ModelAdapter(OneShot)
    one.infer({"x": 2}, StreamOutputHandler(sink))
    one.finalize()
    assert sink.lines == ['{"y":4}'] and sink.ends == [None]
    assert one.instance.done == {}
    sink = ListSink()
    ModelAdapter(Async()).infer({}, StreamOutputHandler(sink))
    assert sink.lines == ['{"y":1}'] and sink.ends == [None]
