"""A stream's reader alone (no server): batches from a position, idles, the end, eviction,
and when the stream counts a batch as delivered."""

from __future__ import annotations

import pytest

from jupyter_inferless.protocol import ErrorKind, run_error
from jupyter_inferless.server.streams.broker import Broker
from jupyter_inferless.server.streams.reader import End, Events, Idle, Item, Reader
from jupyter_inferless.server.streams.stream import Stream
from tests.support.clock import ManualClock
from tests.support.upstream import RecordingKernel

NEVER = 3600.0  # a heartbeat that never comes in these tests


def open_stream(**options: int) -> tuple[Stream, RecordingKernel]:
    kernel = RecordingKernel()
    broker = Broker(clock=ManualClock(), **options)
    return broker.create("model", kernel, 30.0), kernel


async def items(reader: Reader, count: int) -> list[Item]:
    """The next ``count`` items of ``reader``."""
    return [await anext(reader) for _ in range(count)]


async def test_batches_from_a_position_then_the_end():
    stream, kernel = open_stream()
    stream.append([b"a", b"bb", b"ccc", b"d"])
    stream.finish()
    with stream.reader(1, NEVER, max_bytes=7) as reader:
        got = [item async for item in reader]
    assert got == [
        Events(1, [b"bb", b"ccc"], last=False),  # 3 + 4 bytes (each with its newline)
        Events(3, [b"d"], last=True),
        End(4, None),
    ]
    assert kernel.advanced == [3, 4]


async def test_asking_for_the_next_item_advances_past_the_batch_before():
    stream, kernel = open_stream()
    stream.append([b"a", b"b"])
    with stream.reader(0, NEVER) as reader:
        assert await anext(reader) == Events(0, [b"a", b"b"], last=False)
        assert (stream.consumed, kernel.advanced) == (0, [])  # not delivered yet
        stream.append([b"c"])
        stream.finish(run_error(ErrorKind.MODEL_ERROR, "boom"))
        assert await anext(reader) == Events(2, [b"c"], last=True)
        assert (stream.consumed, kernel.advanced) == (2, [2])
        assert await anext(reader) == End(3, stream.error)
        assert (stream.consumed, kernel.advanced) == (3, [2, 3])
        with pytest.raises(StopAsyncIteration):
            await anext(reader)


async def test_an_idle_stream_gives_idles_until_something_happens():
    stream, _ = open_stream()
    with stream.reader(0, 0.01) as reader:
        assert await items(reader, 2) == [Idle(0), Idle(0)]
        stream.append([b"a"])
        assert await anext(reader) == Events(0, [b"a"], last=False)


async def test_a_reader_behind_the_kept_events_ends_evicted():
    stream, _ = open_stream(replay_events=1)
    stream.append([b"a", b"b", b"c"])
    stream.advance(3)  # another reader delivered them: one is kept
    with stream.reader(0, NEVER) as reader:
        end = await anext(reader)
    assert isinstance(end, End) and end.evicted and end.position == 0
    assert end.error is not None and end.error["kind"] is ErrorKind.EVENTS_EVICTED
    assert "the first 2 events are no longer kept" in end.error["message"]
    assert not stream.ended, "the stream itself goes on"


async def test_leaving_normally_counts_the_last_batch_as_delivered():
    stream, _ = open_stream()
    stream.append([b"a", b"b"])
    with stream.reader(0, NEVER) as reader:
        await anext(reader)
    assert stream.consumed == 2


async def test_leaving_by_an_error_does_not():
    stream, _ = open_stream()
    stream.append([b"a", b"b"])
    with pytest.raises(ConnectionError), stream.reader(0, NEVER) as reader:
        await anext(reader)
        raise ConnectionError("the client went while the batch was written")
    assert stream.consumed == 0


async def test_a_reader_is_a_subscriber_while_it_reads():
    stream, _ = open_stream()
    first, second = stream.reader(0, NEVER), stream.reader(0, NEVER)
    with first:
        with second:
            assert stream.subscribers == 2
        assert stream.subscribers == 1
    assert stream.subscribers == 0
