"""Stalled-client benchmark: what one client that reads nothing costs the others.

A real Jupyter server with the extension runs a kernel that serves
tests/support/models.py's AsyncPadded as ``fast`` (an ``async def infer`` sending events of
about 1 KB as fast as its loop runs them, max concurrency 8). Each round reads R requests
at once to their end twice: alone (the baseline), and beside one client that sent its
request and reads nothing (a socket with a 4 KiB receive buffer). The other requests'
events/s with the stalled client, divided by the baseline's, is the figure. The stalled
request is cancelled (DELETE) at the end of its round. Both ways of sending are measured:
``send_streamed_output`` (the stalled request is cut at its backlog bound) and ``await
asend`` (it pauses there). The kernel's and server's RSS are printed at the end.

    python benchmarks/stalled_client.py [--smoke] [--requests R] [--events N] [--rounds K]

Exit code: 0 when every stream beside a stalled client was complete (whatever the ratio),
1 when one was not, or when the server failed to start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import psutil
from _cli import Size, machine, parse_sizes, run_measured, size_parser
from _servers import HOST, JupyterInferless, ServerStartError, describe, launch
from _shared import Event
from _sse_client import ProtocolError, build_request, stream_sse

from tests.support.models import ASYNC_PADDED  # found once _shared put the root on the path

MIB = 1024 * 1024
PAD = 1000
SIZES = [
    Size("--requests", int, "requests read beside the stalled client", smoke=5, full=5),
    Size("--events", int, "events per request", smoke=1000, full=5000),
    Size("--rounds", int, "rounds (baseline, then stalled) per way of sending", smoke=1, full=3),
]


class FastServer(JupyterInferless):
    """A Jupyter server whose kernel serves AsyncPadded as ``fast``."""

    model = ASYNC_PADDED
    model_name = "fast"


async def read_all(server: FastServer, requests: int, n: int, asend: bool) -> float:
    """Read ``requests`` streams of ``n`` events at once to their end; their events/s."""
    counts = [0] * requests

    def counter(index: int) -> Callable[[list[Event]], None]:
        def sink(events: list[Event]) -> None:
            counts[index] += len(events)

        return sink

    payload = json.dumps({"n": n, "size": PAD, "asend": asend}).encode()
    started = time.perf_counter()
    await asyncio.gather(
        *(
            stream_sse(
                HOST, server.port, server.path, payload, sink=counter(i), headers=server.headers
            )
            for i in range(requests)
        )
    )
    elapsed = time.perf_counter() - started
    if any(count != n for count in counts):
        raise ProtocolError(f"incomplete streams: {counts} events, expected {n} each")
    return requests * n / elapsed


def stall(server: FastServer, asend: bool) -> tuple[socket.socket, str]:
    """Send a request from a socket that then reads nothing but its head; its request id."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect((HOST, server.port))
    body = json.dumps({"n": 10_000_000, "size": PAD, "asend": asend}).encode()
    sock.sendall(build_request(HOST, server.port, server.path, body, server.headers))
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1024)
    for line in head.split(b"\r\n\r\n")[0].decode().split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-request-id":
            return sock, value.strip()
    raise ProtocolError(f"no X-Request-Id in {head[:200]!r}")


def measure(server: FastServer, args: argparse.Namespace) -> dict[str, list[float]]:
    """Per way of sending, the ratio (events/s beside a stalled client / alone) of each round."""
    ratios: dict[str, list[float]] = {}
    for label, asend in (("send_streamed_output", False), ("await asend", True)):
        asyncio.run(read_all(server, 1, 100, asend))  # warm up
        for _ in range(args.rounds):
            alone = asyncio.run(read_all(server, args.requests, args.events, asend))
            sock, rid = stall(server, asend)
            try:
                time.sleep(2.0)  # its buffers fill, its backlog reaches its bound
                beside = asyncio.run(read_all(server, args.requests, args.events, asend))
            finally:
                with server.client() as http:
                    http.delete(f"/inferless/api/streams/{rid}")
                sock.close()
            ratios.setdefault(label, []).append(beside / alone)
            print(
                f"{label}: {args.requests} requests alone {alone:.0f} events/s, beside a "
                f"stalled client {beside:.0f} events/s: {beside / alone:.2f}x",
                flush=True,
            )
    return ratios


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    parser = size_parser(__doc__, "5 requests x 1000 events, 1 round", SIZES)
    args = parse_sizes(parser, SIZES, argv)
    print(
        f"stalled client benchmark: {args.requests} requests x {args.events} events of about "
        f"1 KB, {args.rounds} rounds ({machine()})",
        flush=True,
    )

    def run(workdir: Path, stack: contextlib.ExitStack) -> dict[str, list[float]]:
        server = launch(FastServer(workdir, max_concurrency=8, queue_size=0), stack)
        server.wait_ready()
        print(f"ready: {describe(server)}", flush=True)
        ratios = measure(server, args)
        for role, pid in server.pids().items():
            rss = psutil.Process(pid).memory_info().rss
            print(f"{role} RSS after the rounds: {rss / MIB:.0f} MiB")
        return ratios

    ratios = run_measured("stalled-bench-", (ServerStartError, ProtocolError, httpx.HTTPError), run)
    print()
    for label, values in ratios.items():
        print(
            f"stalled client ({label}): the other requests' events/s, beside / alone: "
            f"{statistics.median(values):.2f}x (median of {len(values)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
