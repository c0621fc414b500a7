"""Reading large bodies off the loop: decode threads and processes read alike, the GIL is
handed over often and the collector paused while a thread reads, and what is put after a
large message leaves after it."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import threading
from typing import Any

import pytest

from jupyter_inferless import protocol
from jupyter_inferless.contract import InputError, parse_input_schema
from jupyter_inferless.server.decode import json_pack
from jupyter_inferless.server.decode.bodies import SLICE, Body, release
from jupyter_inferless.server.decode.decoding import Decoding
from jupyter_inferless.server.kernels.outgoing import Outgoing
from tests.support.waiting import until


class Link:
    """A transport: what was sent, in order; ``prepare`` waits for ``go`` in its thread."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.failed: list[tuple[list[Any], Exception]] = []
        self.go = threading.Event()
        self.preparing = threading.Event()  # set once prepare runs
        self.fail_prepare = False

    def send(self, message: Any) -> None:
        self.sent.append(message)

    def not_sent(self, messages: list[Any], error: Exception) -> None:
        self.failed.append((messages, error))

    def prepare(self, data: Any) -> Any:
        assert threading.current_thread() is not threading.main_thread()
        self.preparing.set()
        self.go.wait(5)
        if self.fail_prepare:
            raise ConnectionError("the serving comm is closed")
        return ("prepared", data["rid"])

    def send_prepared(self, ready: Any) -> None:
        self.sent.append(ready)


def large(rid: str, decoding: Decoding) -> protocol.InferMessage:
    packed = json_pack.pack({"x": [1, 2]})
    packed.offload = decoding.submit
    return protocol.infer(rid, "m", packed, (1, 1))  # type: ignore[arg-type]


def test_what_is_put_after_a_large_message_leaves_after_it():
    async def scenario() -> Link:
        link, decoding = Link(), Decoding(2, 0)
        outgoing = Outgoing(link.send, link.not_sent, link)
        outgoing.put(protocol.cancel("before"))
        outgoing.put(large("big", decoding))
        outgoing.put(protocol.cancel("big"))
        outgoing.put(protocol.ack(3, {}))
        await until(link.preparing.is_set, "the large message being made ready")
        await until(lambda: link.sent, "the message before it sent")
        assert link.sent == [protocol.cancel("before")], "the rest waits for the large one"
        link.go.set()
        await until(lambda: len(link.sent) == 3, "the large message and the rest sent")
        decoding.close()
        return link

    link = asyncio.run(scenario())
    after = protocol.batch([protocol.cancel("big"), protocol.ack(3, {})])
    assert link.sent == [protocol.cancel("before"), ("prepared", "big"), after]


def test_a_large_message_that_cannot_be_made_ready_ends_its_request():
    async def scenario() -> Link:
        link, decoding = Link(), Decoding(1, 0)
        link.fail_prepare = True
        link.go.set()
        outgoing = Outgoing(link.send, link.not_sent, link)
        outgoing.put(large("big", decoding))
        outgoing.put(protocol.cancel("other"))
        await until(lambda: link.sent, "the message after it sent")
        decoding.close()
        return link

    link = asyncio.run(scenario())
    ((messages, error),) = link.failed
    assert [m["rid"] for m in messages] == ["big"] and isinstance(error, ConnectionError)
    assert link.sent == [protocol.cancel("other")]


def test_decode_threads_pause_the_collector_hand_the_gil_over_and_drop_a_refusals_frames():
    held: list[Any] = []

    def refuse() -> None:
        parsed = [[0] * 10 for _ in range(1000)]  # what the frames of a refusal hold
        held.append((gc.isenabled(), sys.getswitchinterval()))
        try:
            raise ValueError("inner")
        except ValueError:
            raise InputError("input 'x': refused", "x") from None
        del parsed

    async def scenario() -> BaseException:
        decoding = Decoding(1, 0)
        assert decoding.inline(0) and not decoding.inline(1)
        try:
            await decoding.run(refuse)
        except InputError as err:
            return err
        finally:
            decoding.close()
        raise AssertionError("not refused")

    was_enabled, interval = gc.isenabled(), sys.getswitchinterval()
    error = asyncio.run(scenario())
    assert held == [(False, min(interval, 0.001))], "collector paused, the GIL handed over often"
    assert (gc.isenabled(), sys.getswitchinterval()) == (was_enabled, interval)
    assert error.__traceback__ is None or all(
        "parsed" not in frame.tb_frame.f_locals for frame in _frames(error.__traceback__)
    )
    assert error.__context__ is None or error.__context__.__traceback__ is None


def _frames(tb: Any) -> list[Any]:
    frames = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    return frames


def test_release_empties_large_lists_a_slice_at_a_time():
    inner = list(range(3 * SLICE + 5))
    body = {"inputs": [{"data": inner, "shape": [len(inner)]}], "id": "x"}
    release(body)
    assert len(inner) <= SLICE and body["id"] == "x"


SCHEMA = parse_input_schema(
    {"x": {"datatype": "INT8", "required": True, "shape": [-1]}}, streaming=False
)
UNDECLARED = parse_input_schema(None, streaming=False)


def body(data: bytes, max_bytes: int = 1 << 20, max_depth: int = 32, **options: Any) -> Body:
    return Body(data, max_bytes, max_depth, **options)


def outcome_of(decoding: Decoding, data: Body, schema: Any) -> Any:
    """What reading ``data`` gives: the packed inputs and what else was read, or the error."""

    async def scenario() -> Any:
        try:
            read = await decoding.read(data, schema)
        except Exception as err:
            status = getattr(err, "status_code", None)
            return (type(err).__name__, status, str(err), getattr(err, "input_name", None))
        finally:
            decoding.close()
        assert read.packed.offload == decoding.submit
        return b"".join(read.packed.pieces), read.wanted, read.id

    return asyncio.run(scenario())


BINARY_HEADER = json.dumps(
    {
        "id": "b",
        "inputs": [
            {"name": "x", "datatype": "INT8", "shape": [3], "parameters": {"binary_data_size": 3}}
        ],
    }
).encode()


@pytest.mark.parametrize(
    ("data", "schema"),
    [
        (
            body(
                b'{"inputs": [{"name": "x", "datatype": "INT8", "data": [1, -2]}], "id": "a"}',
                infer=True,
            ),
            SCHEMA,
        ),
        (
            body(
                BINARY_HEADER + b"\x01\x02\xff", infer=True, header_length=str(len(BINARY_HEADER))
            ),
            SCHEMA,
        ),
        (body(b'{"x": [1, 2, 300]}'), SCHEMA),
        (body(b'{"x": [1, 2'), SCHEMA),
        (body(b'{"x": NaN}'), SCHEMA),
        (body(b"\xff"), SCHEMA),
        (body(b'{"x": [1]}', max_bytes=4), SCHEMA),
        (body(b'{"y": "\\ud800"}'), UNDECLARED),
        (body(b'{"y": [1e400]}'), UNDECLARED),
        (body(b'{"y": [[[[1]]]]}', max_depth=2), UNDECLARED),
        (body(b'{"inputs": 3}', infer=True), SCHEMA),
    ],
)
def test_a_decode_process_reads_as_a_decode_thread_does(data, schema):
    in_thread = outcome_of(Decoding(1, 0, processes=0), data, schema)
    in_process = outcome_of(Decoding(1, 0, processes=1, process_bytes=0), data, schema)
    assert in_process == in_thread
    if data == body(b'{"x": [1, 2, 300]}'):
        assert in_thread[:3] == (
            "InputError",
            None,
            "input 'x' (INT8): 300 is out of range for INT8 (-128..127)",
        )


def test_what_a_decode_thread_packs_reads_back():
    packed, wanted, request_id = outcome_of(
        Decoding(1, 0, processes=0),
        body(b'{"inputs": [{"name": "x", "data": [1, 2]}], "id": "r"}', infer=True),
        SCHEMA,
    )
    assert json.loads(packed) == {"x": [1, 2]}
    assert (wanted.names, request_id) == (None, "r")
