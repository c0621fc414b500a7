"""Lifecycle benchmark: how soon the server sees a model come and go, and a kernel die.

A real Jupyter server with the extension runs a kernel that serves tests/support/models.py's
Counter as ``counter``. Each round serves Counter again under a new name from the kernel
and times, from the end of that cell, the new name on ``GET /inferless/api/models`` and
in the model-list event stream (``GET /inferless/api/models/events``, read by a thread
beside it); then stops the name and times it leaving the list. Last, a stream of
``counter`` runs, the kernel is killed (SIGKILL) after its first event, and the time to
the stream's in-band ``kernel_gone`` end is taken. The tests check that each of these
happens; how soon is measured here.

    python benchmarks/lifecycle.py [--smoke] [--rounds R]

Exit code: 0 when everything happened (whether or not the targets were met), 1 when a
model never showed or left, the stream did not end in-band, or the server failed to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
from _cli import Size, machine, parse_sizes, run_measured, size_parser
from _servers import HOST, JupyterInferless, ServerStartError, describe, launch
from _shared import COUNTER, Event, SSEParser
from _sse_client import ProtocolError, stream_sse

TARGET_LISTED_MS = 1000.0
TARGET_PUSHED_MS = 2000.0
TARGET_KILLED_MS = 5000.0
SIZES = [Size("--rounds", int, "models served and stopped", smoke=2, full=10)]
Times = tuple[float, float, float]
"""A round's ms: serve to listed, serve to pushed, stop to unlisted."""


class ModelEvents(threading.Thread):
    """Reads the model-list event stream; ``first_seen[name]``: when ``name`` was first in it."""

    def __init__(self, server: JupyterInferless) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.first_seen: dict[str, float] = {}
        self.ready = threading.Event()

    def run(self) -> None:
        parser = SSEParser()
        with (
            contextlib.suppress(httpx.HTTPError),  # the server stops at the end
            self.server.client() as http,
            http.stream("GET", "/inferless/api/models/events", timeout=None) as response,
        ):
            self.ready.set()
            for chunk in response.iter_bytes():
                for _, data in parser.feed(chunk):
                    now = time.perf_counter()
                    for model in json.loads(data)["models"]:
                        self.first_seen.setdefault(model["name"], now)


def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
    """Poll ``check`` every millisecond; the perf_counter time it first held."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ProtocolError(f"{what} within {timeout:.0f} s")
        time.sleep(0.001)
    return time.perf_counter()


def listed(http: httpx.Client) -> set[str]:
    """The names the server lists now."""
    return {model["name"] for model in http.get("/inferless/api/models").json()["models"]}


def one_round(
    server: JupyterInferless, http: httpx.Client, events: ModelEvents, name: str
) -> Times:
    """Serve Counter as ``name``, then stop it: ms from serve to listed, to pushed, and from
    stop to unlisted (what came before a cell's end counts as 0 ms)."""
    server.run_code(COUNTER.serve(name))
    served = time.perf_counter()
    at = until(lambda: name in listed(http), f"{name!r} listed")
    until(lambda: name in events.first_seen, f"{name!r} pushed")
    pushed = max(events.first_seen[name], served)
    server.run_code(f"jupyter_inferless.stop({name!r})")
    stopped = time.perf_counter()
    gone = until(lambda: name not in listed(http), f"{name!r} gone")
    return (at - served) * 1e3, (pushed - served) * 1e3, (gone - stopped) * 1e3


def serve_and_stop(server: JupyterInferless, events: ModelEvents, rounds: int) -> list[Times]:
    """Each round's times."""
    times = []
    with server.client() as http:
        for i in range(rounds):
            times.append(one_round(server, http, events, f"extra{i}"))
            listed_ms, pushed_ms, gone_ms = times[-1]
            print(
                f"extra{i}: listed {listed_ms:.0f} ms, pushed {pushed_ms:.0f} ms after its "
                f"serve; gone {gone_ms:.0f} ms after its stop",
                flush=True,
            )
    return times


async def kill_mid_stream(server: JupyterInferless) -> float:
    """Kill the kernel after a stream's first event; ms to the stream's in-band end."""
    received: list[Event] = []
    first = asyncio.get_running_loop().create_future()

    def sink(events: list[Event]) -> None:
        received.extend(events)
        if not first.done():
            first.set_result(None)

    body = json.dumps({"n": 1_000_000, "pause_ms": 10}).encode()
    reader = asyncio.ensure_future(
        stream_sse(HOST, server.port, server.path, body, sink=sink, headers=server.headers)
    )
    await asyncio.wait_for(first, 30)
    killed = time.perf_counter()
    os.kill(server.pids()["kernel"], signal.SIGKILL)
    await asyncio.wait_for(reader, 60)
    ended = time.perf_counter()
    last = json.loads(received[-1][1])
    if last.get("kind") != "kernel_gone":
        raise ProtocolError(f"the stream ended with {last}, not kernel_gone")
    return (ended - killed) * 1e3


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    parser = size_parser(__doc__, "2 rounds", SIZES)
    args = parse_sizes(parser, SIZES, argv)
    print(f"lifecycle benchmark: {args.rounds} rounds ({machine()})", flush=True)

    def run(workdir: Path, stack: contextlib.ExitStack) -> tuple[list[Times], float]:
        server = launch(JupyterInferless(workdir), stack)
        server.wait_ready()
        print(f"ready: {describe(server)}", flush=True)
        events = ModelEvents(server)
        events.start()
        if not events.ready.wait(30):
            raise ProtocolError("the model-list event stream never answered")
        times = serve_and_stop(server, events, args.rounds)
        killed = asyncio.run(kill_mid_stream(server))
        print(f"kill -9 of the kernel: the stream ended in-band {killed:.0f} ms later")
        return times, killed

    errors = (ServerStartError, ProtocolError, httpx.HTTPError, OSError, TimeoutError)
    times, killed = run_measured("lifecycle-bench-", errors, run)
    figures = {
        "listed": (max(t[0] for t in times), TARGET_LISTED_MS),
        "pushed": (max(t[1] for t in times), TARGET_PUSHED_MS),
        "killed": (killed, TARGET_KILLED_MS),
    }
    print()
    median = statistics.median(t[0] for t in times)
    print(f"serve -> listed: median {median:.0f} ms, max {figures['listed'][0]:.0f} ms "
          f"(target <= {TARGET_LISTED_MS:.0f} ms)")  # fmt: skip
    print(f"serve -> pushed: max {figures['pushed'][0]:.0f} ms "
          f"(target <= {TARGET_PUSHED_MS:.0f} ms)")  # fmt: skip
    print(f"stop -> gone: max {max(t[2] for t in times):.0f} ms")
    print(f"kill -9 -> in-band end: {killed:.0f} ms (target <= {TARGET_KILLED_MS:.0f} ms)")
    missed = [name for name, (value, target) in figures.items() if value > target]
    print(f"FAIL: {', '.join(missed)}" if missed else "PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
