"""First-event benchmark: where a stream's first event spends its time, step by step.

A real Jupyter server with the extension, and one kernel serving two models of one event
each: ``first_sync`` (a sync ``infer``: the thread path) and ``first_async`` (``async def
infer``: the async path). Both processes carry timing hooks (``_first_event_hooks.py``: a
benchmark-only server extension, and wrappers installed in the kernel before
``%load_ext jupyter_inferless``) that note CLOCK_MONOTONIC at each step of a request's path:
tornado's parse, jupyter_server's authentication (its token auth and the login cookie it
sets) and authorization, our admission and start, the comm message to the kernel
(ipykernel's dispatch on the link's subshell), the model's start, the frame back through
IOPub to the server, and the write. The client notes its connect, its send and the first
event parsed, on the same clock.

Requests go one at a time, each after the previous stream ended and a quiet gap (a first
event on an idle server and kernel), in blocks that alternate between the paths and
between hooks on and off (the off blocks give the latency without the hooks' own cost).

    python benchmarks/first_event.py [--smoke] [--requests N] [--block B] [--gap-ms G]

Exit code: 0 when every stream was one correct event (whatever the times), 1 when a stream
was wrong, a mark was missing from most requests, or the server failed to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from _cli import Size, machine, parse_sizes, run_measured, size_parser
from _first_event_hooks import ROUTE
from _first_event_steps import PATHS, Request, assign, print_parts, print_steps, step_times
from _servers import HERE, HOST, JupyterInferless, ServerStartError, _lists_model, describe, launch
from _shared import CellError, Event, Model, connect, run_cell
from _sse_client import ProtocolError, SSEResponse, _SSEClientProtocol, build_request

SIZES = [
    Size("--requests", int, "requests a path, with the hooks on (as many with them off)",
         smoke=10, full=200),
    Size("--block", int, "requests a block (paths and hooks on/off alternate by block)",
         smoke=5, full=20),
    Size("--warmup", int, "requests a path before measuring", smoke=2, full=10, least=0),
    Size("--gap-ms", float, "quiet ms after each stream's end", smoke=50, full=50, least=0),
]  # fmt: skip
SCHEMA = {"n": {"datatype": "INT32", "required": True, "shape": [1]}}
SYNC = Model(
    "FirstSync",
    '''
    import _first_event_hooks

    class FirstSync:
        """n events {"OUT": "tok", "i": i}; notes its start (k.infer)."""

        def infer(self, inputs, stream_output_handler):
            _first_event_hooks.mark("k.infer")
            for i in range(inputs["n"]):
                stream_output_handler.send_streamed_output({"OUT": "tok", "i": i})
            stream_output_handler.finalise_streamed_output()
    ''',
    SCHEMA,
)
ASYNC = Model(
    "FirstAsync",
    '''
    import _first_event_hooks

    class FirstAsync:
        """FirstSync's events from an async infer."""

        async def infer(self, inputs, stream_output_handler):
            _first_event_hooks.mark("k.infer")
            for i in range(inputs["n"]):
                stream_output_handler.send_streamed_output({"OUT": "tok", "i": i})
            stream_output_handler.finalise_streamed_output()
    ''',
    SCHEMA,
)
MODELS = {"thread": "first_sync", "async": "first_async"}
BODY = json.dumps({"n": 1}).encode()
EXPECTED = {"OUT": "tok", "i": 0}
Results = dict[str, tuple[list[Request], list[int]]]
"""Per path: the requests with the hooks on, and the first events' ns without them."""


class HookedServer(JupyterInferless):
    """The Jupyter server with the hooks' extension, its kernel hooked, both models served."""

    name = "jupyter_inferless with timing hooks"
    model_name = MODELS["thread"]

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.kernel_code = (
            "import _first_event_hooks\n_first_event_hooks.install_kernel()\n"
            "%load_ext jupyter_inferless\n"
            + SYNC.serve(MODELS["thread"])
            + ASYNC.serve(MODELS["async"])
        )

    def argv(self) -> list[str]:
        """The server's command line, the hooks' extension enabled beside ours."""
        extensions = repr({"jupyter_inferless": True, "_first_event_hooks": True})
        option = "--ServerApp.jpserver_extensions="
        return [option + extensions if a.startswith(option) else a for a in super().argv()]

    def env(self) -> dict[str, str]:
        """This folder on the path of the server and of its kernel (the hooks' module)."""
        env = super().env()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
        return env

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Ready once both models are listed."""
        super().wait_ready(timeout)
        with self.client() as http:
            name = MODELS["async"]
            self._poll(lambda: _lists_model(http, name), 10.0, f"list model {name!r}")


class Hooks:
    """The hooks of both processes: on or off, and their marks."""

    def __init__(self, server: HookedServer, stack: contextlib.ExitStack) -> None:
        self.http = stack.enter_context(server.client())
        self.kernel = connect(server.connection_file)
        stack.callback(self.kernel.stop_channels)
        self.dump = server.workdir / "kernel_marks.json"

    def switch(self, on: bool) -> None:
        """Turn the marks on or off in both processes (and forget those kept)."""
        self.http.post(f"/{ROUTE}", json={"on": on}).raise_for_status()
        run_cell(self.kernel, f"_first_event_hooks.STATE.on = {on}\n_first_event_hooks.take()")

    def take(self) -> list[tuple[int, str]]:
        """The marks of both processes since they were turned on."""
        answer = self.http.get(f"/{ROUTE}")
        answer.raise_for_status()
        run_cell(self.kernel, f"_first_event_hooks.dump({str(self.dump)!r})")
        both = answer.json() + json.loads(self.dump.read_text())
        return [(int(t), str(name)) for t, name in both]


async def one_request(port: int, path: str, headers: dict[str, str]) -> dict[str, int]:
    """One stream of one event; the client's marks (ns): connect, send, first event, end."""
    loop = asyncio.get_running_loop()
    events: list[Event] = []
    marks: dict[str, int] = {}

    def sink(batch: list[Event]) -> None:
        marks.setdefault("c.first", time.monotonic_ns())
        events.extend(batch)

    finished: asyncio.Future[None] = loop.create_future()
    response = SSEResponse(sink)
    request = build_request(HOST, port, path, BODY, headers)
    marks["c.connect"] = time.monotonic_ns()
    transport, _ = await loop.create_connection(
        lambda: _SSEClientProtocol(response, finished), HOST, port
    )
    try:
        marks["c.send"] = time.monotonic_ns()
        transport.write(request)
        await finished
    finally:
        transport.close()
    if len(events) != 1 or json.loads(events[0][1]) != EXPECTED:
        raise ProtocolError(f"{path}: expected one event {EXPECTED}, got {events[:3]}")
    return marks


async def block(server: HookedServer, path: str, n: int, gap: float) -> list[dict[str, int]]:
    """``n`` requests to the path's model, one after another, ``gap`` s apart."""
    url = f"/inferless/v2/models/{MODELS[path]}/generate_stream"
    marks = []
    for _ in range(n):
        marks.append(await one_request(server.port, url, server.headers))
        await asyncio.sleep(gap)
    return marks


async def measure(server: HookedServer, hooks: Hooks, sizes: dict[str, float]) -> Results:
    """Per path: the requests with hooks on (their marks assigned), and the first-event
    latencies (ns, from the send) with hooks off."""
    requests, gap = int(sizes["requests"]), sizes["gap_ms"] / 1e3
    hooks.switch(False)
    for path in PATHS:
        await block(server, path, int(sizes["warmup"]), gap)
    result: Results = {p: ([], []) for p in PATHS}
    done = index = 0
    while done < requests:
        n = min(int(sizes["block"]), requests - done)
        order = list(PATHS) if index % 2 == 0 else list(reversed(PATHS))
        for path in order:
            for on in (True, False) if index % 2 == 0 else (False, True):
                hooks.switch(on)
                marks = await block(server, path, n, gap)
                if not on:
                    result[path][1].extend(m["c.first"] - m["c.send"] for m in marks)
                    continue
                taken, end = [Request(m) for m in marks], time.monotonic_ns()
                assign(taken, hooks.take(), end)  # the marks of take's own request are later
                result[path][0].extend(taken)
        done, index = done + n, index + 1
        print(f"  {done}/{requests} requests a path", flush=True)
    hooks.switch(False)
    return result


def report(path: str, requests: list[Request], plain: list[int]) -> bool:
    """Print a path's tables; False when most requests lack a mark of the path."""
    steps = PATHS[path]
    rows = [row for r in requests if (row := step_times(r, steps)) is not None]
    print(f"\n{path} path ({MODELS[path]}): {len(rows)} of {len(requests)} requests with "
          "every mark")  # fmt: skip
    if len(rows) * 2 < len(requests):
        missing = {s.mark for r in requests for s in steps if r.first(s.mark) is None}
        print(f"  marks missing: {', '.join(sorted(missing))}")
        return False
    hooked = statistics.median(sum(steps) for steps, _ in rows) / 1e3
    connect = statistics.median(r.client["c.send"] - r.client["c.connect"] for r in requests)
    print(f"  first event, send -> parsed: median {hooked:,.0f} µs with the hooks, "
          f"{statistics.median(plain) / 1e3:,.0f} µs without ({len(plain)} requests); "
          f"the connect before the send (not counted): {connect / 1e3:,.0f} µs")  # fmt: skip
    print_steps(steps, rows)
    print()
    print_parts(requests)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    parser = size_parser(__doc__, "10 requests a path in blocks of 5", SIZES)
    args = parse_sizes(parser, SIZES, argv)
    print(
        f"first event benchmark: {args.requests} requests a path with the hooks on and as many "
        f"off, one at a time, {args.gap_ms:g} ms apart ({machine()})",
        flush=True,
    )

    def run(workdir: Path, stack: contextlib.ExitStack) -> Results:
        server = launch(HookedServer(workdir), stack)
        server.wait_ready()
        print(f"ready: {describe(server)} and .../{MODELS['async']}/...", flush=True)
        return asyncio.run(measure(server, Hooks(server, stack), vars(args)))

    errors = (ServerStartError, ProtocolError, CellError, httpx.HTTPError, OSError, TimeoutError)
    results = run_measured("first-event-bench-", errors, run)
    complete = [report(path, *results[path]) for path in PATHS]
    return 0 if all(complete) else 1


if __name__ == "__main__":
    sys.exit(main())
