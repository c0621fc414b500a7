"""SSE streaming benchmark: jupyter_inferless vs plain Tornado vs sse-starlette.

Each server runs in its own subprocess on 127.0.0.1 and streams the same
workload (N events ``{"OUT": "tok", "i": k}`` with ids 0..N-1). One client in
this process measures end-to-end events/s and time to first event (TTFE).

    python benchmarks/sse_throughput.py [--smoke] [--events N] [--runs R]

``--servers ...,jupyter-public`` adds jupyter_inferless with ``c.Service.direct_writes =
False`` (tornado's public write and flush only), and a line comparing the two.

Exit code: 0 when every stream was complete (whether or not the speed targets
were met), 1 when a stream was incomplete or wrong, or a server failed to start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _cli import Size, parse_sizes, run_measured, size_parser
from _client_bench import StreamChecker, StreamError, client_alone, self_check
from _servers import (
    HOST,
    JupyterInferless,
    PlainTornado,
    PublicWrites,
    ServerProcess,
    ServerStartError,
    SseStarlette,
    describe,
    launch,
)
from _sse_client import ProtocolError, stream_sse

SERVER_KINDS: dict[str, type[ServerProcess]] = {
    "tornado": PlainTornado,
    "starlette": SseStarlette,
    "jupyter": JupyterInferless,
    "jupyter-public": PublicWrites,
}
DEFAULT_SERVERS = ("tornado", "starlette", "jupyter")
WARM_EVENTS = 1000
TARGET_VS_TORNADO = 0.50
TARGET_VS_STARLETTE = 1.00
TARGET_TTFE_MS = 15.0
#: The size options, and their defaults with --smoke and without.
SIZES = [
    Size("--events", int, "events per stream", smoke=2000, full=20000),
    Size("--runs", int, "measured runs per server", smoke=1, full=5),
    Size("--ttfe-runs", int, "N=1 streams per server", smoke=5, full=20),
]


@dataclass
class Run:
    """One measured stream."""

    events_per_s: float
    ttfe: float
    client_cpu: float  # client CPU seconds / wall seconds


@dataclass
class Results:
    """All measurements of one server."""

    runs: list[Run] = field(default_factory=list)
    small_ttfe: list[float] = field(default_factory=list)

    def median_rate(self) -> float:
        """Median events/s over the big runs."""
        return statistics.median(r.events_per_s for r in self.runs)

    def median_small_ttfe(self) -> float:
        """Median TTFE (s) of the N=1 streams."""
        return statistics.median(self.small_ttfe)


async def run_stream(server: ServerProcess, n: int) -> Run:
    """Stream ``n`` events from ``server``, verify them, and time the stream."""
    checker = StreamChecker(n)
    body = json.dumps({"n": n}).encode()
    cpu = time.process_time()
    try:
        timing = await asyncio.wait_for(
            stream_sse(HOST, server.port, server.path, body, sink=checker, headers=server.headers),
            timeout=60 + n / 500,
        )
    except (StreamError, ProtocolError, OSError, asyncio.TimeoutError) as err:
        raise StreamError(f"{server.name}: {type(err).__name__}: {err}") from err
    cpu = time.process_time() - cpu
    try:
        checker.finish()
    except StreamError as err:
        raise StreamError(f"{server.name}: {err}") from err
    return Run(n / timing.total, timing.first_event, cpu / timing.total)


async def measure(
    servers: Sequence[ServerProcess], n: int, runs: int, ttfe_runs: int
) -> dict[str, Results]:
    """Warm up, then interleave the servers round-robin (rotating the order)."""
    results = {s.name: Results() for s in servers}
    for server in servers:
        await run_stream(server, min(n, WARM_EVENTS))
    for r in range(runs):
        for server in _rotated(servers, r):
            run = await run_stream(server, n)
            results[server.name].runs.append(run)
            print(
                f"  run {r + 1}/{runs}  {server.name:<18} {run.events_per_s:>10,.0f} events/s"
                f"  first event {run.ttfe * 1e3:6.1f} ms",
                flush=True,
            )
    for r in range(ttfe_runs):
        for server in _rotated(servers, r):
            results[server.name].small_ttfe.append((await run_stream(server, 1)).ttfe)
    return results


def _rotated(items: Sequence[ServerProcess], k: int) -> list[ServerProcess]:
    k %= len(items)
    return [*items[k:], *items[:k]]


def print_table(results: dict[str, Results], n: int) -> None:
    """Print the per-server medians."""
    print(
        f"\n{'server':<18} {'events/s':>10} {'(min..max)':>19}   "
        f"{'first event N=1':>15}   {f'first event N={n}':>17}   {'client CPU':>10}"
    )
    for name, res in results.items():
        rates = [r.events_per_s for r in res.runs]
        big_ttfe = statistics.median(r.ttfe for r in res.runs)
        cpu = statistics.median(r.client_cpu for r in res.runs)
        print(
            f"{name:<18} {res.median_rate():>10,.0f} "
            f"{f'({min(rates):,.0f}..{max(rates):,.0f})':>19}   "
            f"{res.median_small_ttfe() * 1e3:>12.2f} ms   {big_ttfe * 1e3:>14.2f} ms   "
            f"{cpu:>10.0%}"
        )


def print_verdict(results: dict[str, Results]) -> None:
    """Print the ratio lines and PASS or FAIL."""
    jup = results.get(JupyterInferless.name)
    tor = results.get(PlainTornado.name)
    sta = results.get(SseStarlette.name)
    vs_tor = jup.median_rate() / tor.median_rate() if jup and tor else None
    vs_sta = jup.median_rate() / sta.median_rate() if jup and sta else None
    ttfe = (jup.median_small_ttfe() - tor.median_small_ttfe()) * 1e3 if jup and tor else None
    checks = [
        (
            f"events/s  jupyter_inferless / plain tornado = {_fmt(vs_tor, '{:.2f}x')}",
            f"(target >= {TARGET_VS_TORNADO:.2f}x)",
            vs_tor is not None and vs_tor >= TARGET_VS_TORNADO,
            "events/s vs plain tornado",
        ),
        (
            f"events/s  jupyter_inferless / sse-starlette = {_fmt(vs_sta, '{:.2f}x')}",
            f"(target >= {TARGET_VS_STARLETTE:.2f}x)",
            vs_sta is not None and vs_sta >= TARGET_VS_STARLETTE,
            "events/s vs sse-starlette",
        ),
        (
            f"first event  jupyter_inferless - plain tornado = {_fmt(ttfe, '{:+.1f} ms')}",
            f"(target <= {TARGET_TTFE_MS:.0f} ms)",
            ttfe is not None and ttfe <= TARGET_TTFE_MS,
            "first event vs plain tornado",
        ),
    ]
    print()
    public = results.get(PublicWrites.name)
    if jup and public:
        ratio = jup.median_rate() / public.median_rate()
        print(f"events/s  direct writes / public writes = {ratio:.2f}x  (no target)")
    for line, target, _, _ in checks:
        print(f"{line}  {target}")
    missed = [label for _, _, ok, label in checks if not ok]
    print("PASS" if not missed else f"FAIL: {', '.join(missed)}")


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else spec.format(value)


def report_client(n: int, results: dict[str, Results]) -> None:
    """Print the client-alone speed and how it compares with the fastest server."""
    speed = client_alone(n)
    fastest = max(res.median_rate() for res in results.values())
    print(
        f"\nclient alone (in-memory stream, N={n}): {speed.per_event_reads:,.0f} events/s with "
        f"one event per read, {speed.bulk_reads:,.0f} events/s with 64 KiB reads "
        f"({speed.per_event_reads / fastest:.1f}x / {speed.bulk_reads / fastest:.1f}x "
        f"the fastest server)"
    )


def start_servers(
    kinds: Sequence[str], workdir: Path, stack: contextlib.ExitStack
) -> list[ServerProcess]:
    """Launch every server (``stack`` stops them), then wait for each."""
    live = [launch(SERVER_KINDS[kind](workdir), stack) for kind in kinds]
    for server in live:
        server.wait_ready()
        print(f"ready: {describe(server)}", flush=True)
    return live


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; --smoke sets small defaults."""
    parser = size_parser(__doc__, "1 run of N=2000, 5 TTFE runs", SIZES)
    kinds, default = ", ".join(SERVER_KINDS), ",".join(DEFAULT_SERVERS)
    parser.add_argument(
        "--servers",
        default=default,
        help=f"comma-separated, of: {kinds} (default {default})",
    )
    args = parse_sizes(parser, SIZES, argv)
    args.servers = list(dict.fromkeys(s.strip() for s in args.servers.split(",") if s.strip()))
    unknown = set(args.servers) - set(SERVER_KINDS)
    if unknown or not args.servers:
        parser.error(f"--servers: unknown or empty: {sorted(unknown)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the process exit code."""
    args = parse_args(argv)
    self_check()
    print(
        f"SSE benchmark: {args.events} events/stream, {args.runs} runs/server, "
        f"TTFE from {args.ttfe_runs} streams of 1 event",
        flush=True,
    )

    def run(workdir: Path, stack: contextlib.ExitStack) -> dict[str, Results]:
        live = start_servers(args.servers, workdir, stack)
        return asyncio.run(measure(live, args.events, args.runs, args.ttfe_runs))

    results = run_measured("sse-bench-", (ServerStartError, StreamError), run)
    print_table(results, args.events)
    report_client(args.events, results)
    print_verdict(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
