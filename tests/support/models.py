"""The models the tests and the benchmarks serve: one copy of each, as kernel code.

Each ``Model`` is the source of one class and its input schema, and ``serve`` gives the
kernel code that defines it and serves it, under any names. A class keeps what tests
read back in the kernel as class attributes (``Paced.produced``), so that two models
defined in one kernel never share a counter. The expected outputs are functions here too.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any


def spec(datatype: str, required: bool = True, example: Any = None) -> dict[str, Any]:
    """One input of an INPUT_SCHEMA, of shape [1] (``example``: the panel's prefilled value)."""
    described = {"datatype": datatype, "required": required, "shape": [1]}
    return described if example is None else {**described, "example": [example]}


PACING = '''
    import asyncio
    import time


    def pace(seconds):
        """A paced model's pause between two events: the one way the test models take time.
        None for 0 seconds."""
        if seconds > 0:
            time.sleep(seconds)


    async def apace(seconds):
        """``pace`` for an async model: awaits, so its loop runs the other tasks meanwhile
        (even for 0 seconds, a turn of the loop)."""
        await asyncio.sleep(seconds)

'''
"""Kernel code defining ``pace`` and ``apace``, for the source of every model that pauses
(at the same indent as the models' sources, which start with it)."""


@dataclass(frozen=True)
class Model:
    """Kernel code defining the class ``name``, and the class's input schema."""

    name: str
    source: str
    schema: dict[str, Any] = field(default_factory=dict)
    streaming: bool = True

    def serve(self, *names: str, **options: int) -> str:
        """Kernel code that defines the model and serves it under each of ``names`` (the
        class's name when none is given); ``options`` are max_concurrency, queue_size."""
        settings = "".join(f", {key}={value!r}" for key, value in options.items())
        calls = [
            f"jupyter_inferless.serve({self.name}, name={name!r}, streaming={self.streaming}, "
            f"input_schema={self.schema!r}{settings})"
            for name in names or (self.name,)
        ]
        return "\n".join(["import jupyter_inferless", textwrap.dedent(self.source), *calls, ""])

    def define(self) -> str:
        """Kernel code that defines the class with INPUT_SCHEMA and IS_STREAMING_OUTPUT
        beside it, where ``%inferless serve CLASS`` reads them."""
        declared = f"INPUT_SCHEMA = {self.schema!r}\nIS_STREAMING_OUTPUT = {self.streaming}\n"
        return textwrap.dedent(self.source) + "\n" + declared


COUNTER = Model(
    "Counter",
    PACING
    + '''
    class Counter:
        """n events {"OUT": "tok", "i": i}, each after a pause of pause_ms; with fail, a
        RuntimeError after the last. The benchmarks' workload, as their other servers send it."""

        def infer(self, inputs, stream_output_handler):
            pause = inputs.get("pause_ms", 0) / 1000
            for i in range(inputs["n"]):
                pace(pause)
                stream_output_handler.send_streamed_output({"OUT": "tok", "i": i})
            if inputs.get("fail"):
                raise RuntimeError("failed after the events")
            stream_output_handler.finalise_streamed_output()
    ''',
    {
        "n": spec("INT32", example=5),
        "pause_ms": spec("INT32", False, 0),
        "fail": spec("BOOL", False, False),
    },
)

PACED = Model(
    "Paced",
    PACING
    + '''
    import time

    class Paced:
        """n events {"OUT": f"{prefix}{i} "} (prefix "t"), each followed by a pause of pause_ms.

        Paced.produced counts the events of every request; Paced.handlers keeps each
        request's handler, whose sent_at says when each event was sent; Paced.loop_ended
        gets `produced` whenever a loop ends, finalised, raised or cancelled.
        """

        produced = 0
        handlers = []
        loop_ended = []

        def infer(self, inputs, stream_output_handler):
            Paced.handlers.append(stream_output_handler)
            sent_at = stream_output_handler.sent_at = []
            prefix, pause = inputs.get("prefix", "t"), inputs.get("pause_ms", 0) / 1000
            try:
                for i in range(inputs["n"]):
                    stream_output_handler.send_streamed_output({"OUT": f"{prefix}{i} "})
                    sent_at.append(time.monotonic())
                    Paced.produced += 1
                    pace(pause)
                stream_output_handler.finalise_streamed_output()
            finally:
                Paced.loop_ended.append(Paced.produced)
    ''',
    {
        "n": spec("INT32", example=5),
        "pause_ms": spec("INT32", False, 0),
        "prefix": spec("STRING", False, "t"),
    },
)

TICKER = Model(
    "Ticker",
    PACING
    + '''
    import time

    class Ticker:
        """n events {"OUT": "tok", "i": i, "t": time.time() at the send}, pause_ms apart
        (a blocking pause between two events), as a model sends tokens at a steady rate."""

        def infer(self, inputs, stream_output_handler):
            pause = inputs.get("pause_ms", 0) / 1000
            for i in range(inputs["n"]):
                if i:
                    pace(pause)
                stream_output_handler.send_streamed_output({"OUT": "tok", "i": i, "t": time.time()})
            stream_output_handler.finalise_streamed_output()
    ''',
    {"n": spec("INT32", example=5), "pause_ms": spec("INT32", False, 0)},
)

ASYNC_TICKER = Model(
    "AsyncTicker",
    PACING
    + '''
    import time

    class AsyncTicker:
        """Ticker's events from an async infer: an awaited pause between two events."""

        async def infer(self, inputs, stream_output_handler):
            pause = inputs.get("pause_ms", 0) / 1000
            for i in range(inputs["n"]):
                if i and pause:
                    await apace(pause)
                stream_output_handler.send_streamed_output({"OUT": "tok", "i": i, "t": time.time()})
            stream_output_handler.finalise_streamed_output()
    ''',
    {"n": spec("INT32", example=5), "pause_ms": spec("INT32", False, 0)},
)

PADDED = Model(
    "Padded",
    """
    class Padded:
        '''n events {"i": i, "pad": "x" * size}; Padded.produced counts them.'''

        produced = 0

        def infer(self, inputs, stream_output_handler):
            pad = "x" * inputs["size"]
            for i in range(inputs["n"]):
                stream_output_handler.send_streamed_output({"i": i, "pad": pad})
                Padded.produced += 1
            stream_output_handler.finalise_streamed_output()
    """,
    {"n": spec("INT32"), "size": spec("INT32")},
)

ASYNC_PADDED = Model(
    "AsyncPadded",
    PACING
    + """
    class AsyncPadded:
        '''Padded's events from an async infer, as fast as its loop runs them: each sent with
        send_streamed_output then `await apace(0)` (a turn of the loop), or with
        `await asend` when the input asend is true. AsyncPadded.produced counts them.'''

        produced = 0

        async def infer(self, inputs, stream_output_handler):
            pad = "x" * inputs["size"]
            for i in range(inputs["n"]):
                if inputs.get("asend"):
                    await stream_output_handler.asend({"i": i, "pad": pad})
                else:
                    stream_output_handler.send_streamed_output({"i": i, "pad": pad})
                    await apace(0)
                AsyncPadded.produced += 1
            stream_output_handler.finalise_streamed_output()
    """,
    {"n": spec("INT32"), "size": spec("INT32"), "asend": spec("BOOL", False, False)},
)

NEVER_FINALISES = Model(
    "NeverFinalises",
    """
    class NeverFinalises:
        def infer(self, inputs, stream_output_handler):
            for i in range(3):
                stream_output_handler.send_streamed_output({"OUT": str(i)})
    """,
)

RAISES = Model(
    "Raises",
    """
    class Raises:
        def infer(self, inputs, stream_output_handler):
            stream_output_handler.send_streamed_output({"OUT": "a"})
            raise ValueError("bad <weights>")
    """,
)

DRIFTS = Model(
    "Drifts",
    """
    class Drifts:
        def infer(self, inputs, stream_output_handler):
            stream_output_handler.send_streamed_output({"OUT": "a", "score": 1.0})
            stream_output_handler.send_streamed_output({"OUT": "b", "score": "high"})
            stream_output_handler.send_streamed_output({"OUT": "c", "score": 2.0})
    """,
)

CHAT = Model(
    "Chat",
    """
    class Chat:
        '''n events {"OUT": prompt, "i": i}, n from 1 (the default) to 3.'''

        def infer(self, inputs, stream_output_handler):
            for i in range(max(1, min(3, inputs.get("n", 1)))):
                stream_output_handler.send_streamed_output({"OUT": inputs["prompt"], "i": i})
            stream_output_handler.finalise_streamed_output()
    """,
    {
        "prompt": spec("STRING"),
        "n": spec("INT8", False),
        "big": spec("INT64", False),
        "flag": spec("BOOL", False),
    },
)

TENSOR = Model(
    "Tensor",
    """
    class Tensor:
        def infer(self, inputs):
            x = inputs.get("x", [])
            return {"count": len(x), "grid": inputs.get("grid", []), "label": inputs["label"]}
    """,
    {
        "x": {"datatype": "FP16", "required": False, "shape": [-1]},
        "grid": {"datatype": "UINT8", "required": False, "shape": [2, 2]},
        "label": spec("STRING"),
    },
    streaming=False,
)

SIZER = Model(
    "Sizer",
    """
    class Sizer:
        '''A non-streaming model of one INT8 input of any length: its count and its sum.'''

        def infer(self, inputs):
            x = inputs["x"]
            return {"n": len(x), "sum": sum(x)}
    """,
    {"x": {"datatype": "INT8", "required": True, "shape": [-1]}},
    streaming=False,
)

ASYNC_ENGINE = Model(
    "AsyncEngine",
    PACING
    + """
    import asyncio
    import threading

    class AsyncEngine:
        '''Like an AsyncLLMEngine: initialize starts an engine task on the running loop and
        makes its queue there; infer hands it a request and streams what it yields, n events
        {"OUT": "tok", "i": i}, pause_ms apart. A request that ends (or is cancelled) stops
        its generation. Records the loops and threads it ran on, and the events produced.'''

        produced = 0
        loops = set()
        threads = set()
        finalized_on = None

        async def initialize(self):
            self.requests = asyncio.Queue()
            self.engine = asyncio.create_task(self.serve_requests())
            type(self).loops.add(id(asyncio.get_running_loop()))

        async def serve_requests(self):
            while True:
                n, pause, out, stop = await self.requests.get()
                asyncio.create_task(self.generate(n, pause, out, stop))

        async def generate(self, n, pause, out, stop):
            for i in range(n):
                await apace(pause)
                if stop.is_set():
                    return
                type(self).produced += 1
                await out.put(i)
            await out.put(None)

        async def infer(self, inputs, stream_output_handler):
            type(self).loops.add(id(asyncio.get_running_loop()))
            type(self).threads.add(threading.get_ident())
            out, stop = asyncio.Queue(), asyncio.Event()
            await self.requests.put((inputs["n"], inputs.get("pause_ms", 0) / 1000, out, stop))
            try:
                while (i := await out.get()) is not None:
                    stream_output_handler.send_streamed_output({"OUT": "tok", "i": i})
            finally:
                stop.set()
            stream_output_handler.finalise_streamed_output()

        async def finalize(self):
            self.engine.cancel()
            type(self).finalized_on = id(asyncio.get_running_loop())
    """,
    {"n": spec("INT32", example=5), "pause_ms": spec("INT32", False, 0)},
)


def counter_output(i: int) -> dict[str, Any]:
    """Counter's event ``i``."""
    return {"OUT": "tok", "i": i}


def counter_outputs(*bounds: int) -> list[dict[str, Any]]:
    """Counter's events at the positions of ``range(*bounds)``."""
    return [counter_output(i) for i in range(*bounds)]


def paced_outputs(*bounds: int, prefix: str = "t") -> list[dict[str, Any]]:
    """Paced's events at the positions of ``range(*bounds)``."""
    return [{"OUT": f"{prefix}{i} "} for i in range(*bounds)]


def paced_text(*bounds: int, prefix: str = "t") -> str:
    """The text of Paced's events at the positions of ``range(*bounds)``."""
    return "".join(output["OUT"] for output in paced_outputs(*bounds, prefix=prefix))
