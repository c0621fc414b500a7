"""jupyter_inferless against LitServe 0.2.19, side by side: the same model, the same client.

For each path, thread (a sync model: ``def infer`` / ``def predict``, ``time.sleep`` between
events) and async (``async def``, ``await asyncio.sleep``), both servers run at once on
127.0.0.1: a real Jupyter server whose kernel serves the model (_litserve_servers.py), and
LitServe serving the same model in its own venv (_litserve_app.py). The same lean client
(_sse_client.py) measures, server by server, interleaved:

1. events/s, one stream: N events unpaced (median of R streams);
2. S streams (256) of 50 events/s at once, from 2 client processes: added latency p99, where
   added = arrival - the model's scheduled send time (each paced event carries it);
3. first event: request sent -> first event received, median of T one-event streams;
4. one stream at 100 events/s: added latency p50 / p99;
5. memory per open stream: the RSS of the server's processes (jupyter_inferless: server and
   kernel; LitServe: its process tree) while S streams of an event per 200 ms are all open,
   less before them, / S.

LitServe's sync streaming loop runs one request at a time per worker process, so on the
thread path its rows 2 and 5 use its async model, its way to serve many streams at once.

    python benchmarks/vs_litserve.py [--smoke] [--paths thread,async] [--fast-queue] ...

Exit code: 0 when every stream was complete and right (whether or not the targets were met),
1 when a stream was wrong or incomplete, or a server did not start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import _litserve_rows as rows
from _cli import Size, machine, parse_sizes, run_measured, size_parser
from _litserve_report import Side, Verdict, ms_text, print_table, table_rows
from _litserve_servers import Endpoints, Inferless, LitServe
from _probe import MIB
from _servers import ServerStartError, describe, launch
from token_rate import Tally

PATHS = ("thread", "async")
LATE = 0.010  # an event of the 100 events/s stream this late is named
SIZES = [
    Size("--events", int, "events of the unpaced stream", smoke=2000, full=20000),
    Size("--runs", int, "unpaced streams per server", smoke=1, full=3),
    Size("--ttfe-runs", int, "one-event streams per server", smoke=5, full=20),
    Size("--paced-events", int, "events of the 100 events/s stream", smoke=100, full=500),
    Size("--streams", int, "concurrent streams (rows 2 and 5)", smoke=32, full=256),
    Size("--stream-events", int, "events per 50 events/s stream", smoke=25, full=100),
    Size("--clients", int, "client processes for the 50 events/s streams", smoke=2, full=2),
    Size("--open-events", int, "events per open stream of row 5", smoke=10, full=30),
]


@dataclass
class Figures:
    """One server's rows on one path."""

    rates: list[float] = field(default_factory=list)
    ttfes: list[float] = field(default_factory=list)
    one: Tally = field(default_factory=Tally)
    many: Tally = field(default_factory=Tally)
    memory: rows.Memory | None = None


@dataclass
class Server:
    """A server under test, its endpoints for this path, the processes its memory is."""

    name: str
    endpoints: Endpoints
    pids: list[int]
    figures: Figures = field(default_factory=Figures)


def start(
    path: str, workdir: Path, stack: contextlib.ExitStack, args: argparse.Namespace
) -> list[Server]:
    """Start both servers (at once), wait for them, and warm each up."""
    for name in ("inferless", "litserve"):
        (workdir / name).mkdir()
    ours = launch(Inferless(workdir / "inferless", path, args.streams), stack)
    theirs = launch(LitServe(workdir / "litserve", args.fast_queue), stack)
    ours.wait_ready()
    theirs.wait_ready()
    servers = [
        Server(ours.name, ours.endpoints(path), ours.pid_list()),
        Server(theirs.name, theirs.endpoints(path), theirs.pid_list()),
    ]
    for server in servers:
        one, many = server.endpoints.one, server.endpoints.many
        for address in {one.path: one, many.path: many}.values():
            asyncio.run(rows.unpaced(f"{server.name} warm-up", address, 1000))
            rows.paced(f"{server.name} warm-up", address, 5, 1)
    print(f"ready: {describe(ours)}\nready: {describe(theirs)}", flush=True)
    return servers


def measure(servers: list[Server], workdir: Path, args: argparse.Namespace) -> None:
    """The five rows, server by server (memory first, before any load has grown a heap)."""
    s = args.streams
    print(f"  5. {s} open streams, an event every {rows.OPEN_PACE_MS} ms", flush=True)
    for server in servers:
        found = server.figures.memory = rows.memory(
            server.name, server.endpoints.many, server.pids, s, args.open_events
        )
        during = statistics.median(found.during) / MIB if found.during else math.nan
        print(
            f"    {server.name}: RSS {found.before / MIB:.1f} MiB before, {during:.1f} MiB "
            f"while all were open ({len(found.during)} samples)"
        )
    print(
        f"  2. {s} streams x {args.stream_events} events, {rows.MANY_PACE_MS} ms apart", flush=True
    )
    for server in servers:
        log = workdir / f"clients-{server.name}.log"
        many = server.figures.many = rows.many(
            server.name, server.endpoints.many, s, args.stream_events, args.clients, log
        )
        ideal = (args.stream_events - 1) * rows.MANY_PACE_MS / 1000
        print(
            f"    {server.name}: added latency {ms_text(many.latencies)}; wall "
            f"{many.wall:.2f} s (ideal {ideal:.2f} s)"
        )
    print(
        f"  1. {args.runs} x one stream of {args.events} events; 3. {args.ttfe_runs} x 1 event",
        flush=True,
    )
    for r in range(max(args.runs, args.ttfe_runs)):
        for server in servers[r % 2 :] + servers[: r % 2]:  # the order alternates
            one = server.endpoints.one
            if r < args.runs:
                rate, _ = asyncio.run(rows.unpaced(server.name, one, args.events))
                server.figures.rates.append(rate)
            if r < args.ttfe_runs:
                server.figures.ttfes.append(asyncio.run(rows.unpaced(server.name, one, 1))[1])
    print(f"  4. one stream of {args.paced_events} events, {rows.ONE_PACE_MS} ms apart", flush=True)
    for server in servers:
        one = server.figures.one = rows.paced(server.name, server.endpoints.one, args.paced_events)
        late = [i for i, latency in enumerate(one.latencies) if latency > LATE]
        print(
            f"    {server.name}: added latency {ms_text(one.latencies)}; {len(late)} events "
            f"later than {LATE * 1e3:.0f} ms{f' (events {late[:8]})' if late else ''}"
        )


def measure_path(path: str, workdir: Path, args: argparse.Namespace) -> list[Server]:
    """Both servers for one path, measured, then stopped."""
    print(f"{path} path", flush=True)
    with contextlib.ExitStack() as own:  # this path's servers stop before the next path's
        servers = start(path, workdir, own, args)
        measure(servers, workdir, args)
    return servers


def side(figures: Figures) -> Side:
    """What the report reads of one server's figures."""
    kib = figures.memory.per_stream_kib if figures.memory is not None else None
    return Side(figures.rates, figures.ttfes, figures.one, figures.many, kib)


TITLES = {
    "thread": "thread path: jupyter_inferless's sync model on worker threads; LitServe's sync "
    "LitAPI, its async one for the {s}-stream rows (its sync loop runs one request at a time)",
    "async": "async path: both servers' async model (LitServe: enable_async=True)",
}


def report(results: dict[str, list[Server]], args: argparse.Namespace) -> None:
    """Each path's table, then the targets; the last line PASS, or FAIL and what missed."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    queue = "fast_queue (ZeroMQ)" if args.fast_queue else "default queues"
    print(f"\nvs_litserve: load average now {load}; LitServe {queue}")
    verdict = Verdict()
    found = {}
    for path, (ours, theirs) in results.items():
        found[path] = table_rows(side(ours.figures), side(theirs.figures), args.streams)
        print_table(TITLES[path].format(s=args.streams), found[path], (ours.name, theirs.name))
    print("\ntargets (issue 20):")
    for path, path_rows in found.items():
        verdict.path(path, path_rows, args.streams)
    print()
    print("PASS" if not verdict.missed else f"FAIL: {'; '.join(verdict.missed)}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; --smoke sets small defaults."""
    parser = size_parser(__doc__, "2000 events, 32 streams, 5 first events (a minute)", SIZES)
    parser.add_argument("--paths", default="thread,async", help="thread, async or both")
    parser.add_argument(
        "--fast-queue", action="store_true", help="LitServe with fast_queue=True (ZeroMQ)"
    )
    args = parse_sizes(parser, SIZES, argv)
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not args.paths or set(args.paths) - set(PATHS):
        parser.error(f"--paths: one or both of {', '.join(PATHS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = parse_args(argv)
    print(
        f"jupyter_inferless vs LitServe: paths {', '.join(args.paths)}, both servers at once "
        f"for each ({machine()})",
        flush=True,
    )

    def run(workdir: Path, stack: contextlib.ExitStack) -> dict[str, list[Server]]:
        results = {}
        for path in args.paths:
            folder = workdir / path
            folder.mkdir()
            results[path] = measure_path(path, folder, args)
        return results

    results = run_measured("vs-litserve-", (ServerStartError, rows.RowError), run)
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
