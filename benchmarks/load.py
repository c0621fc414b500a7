"""Load benchmark: many concurrent streams from one served model.

A real Jupyter server with the extension runs a kernel that serves the ``load``
model (``infer`` sends ``{"OUT": "tok", "i": k}`` for k in 0..n-1). S streams of
N events each are opened at once from one client; every stream is checked. While
they run, a helper process samples the server's and the kernel's memory every
20 ms and executes a trivial cell (``1+1``) in the same kernel again and again,
timing each execute_request -> execute_reply.

    python benchmarks/load.py [--smoke] [--streams S] [--events N]

Exit code: 0 when every stream was complete and correct (whether or not the
latency target was met), 1 on lost, duplicated, out-of-order or wrong events, a
stream error, or a failed start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _cli import Size, machine, parse_sizes, run_measured, size_parser
from _probe import MIB, SAMPLE_INTERVAL, Probe, ProbeError, ms_stats, percentile
from _servers import JupyterInferless, ServerStartError, describe, launch
from _streams import EventCheck, StreamResult, one_stream, summarise

#: Every stream runs at once up to this many; more streams raise the model's concurrency.
CONCURRENCY = 64
WARM_EVENTS = 100
TARGET_CELL_MAX_MS = 100.0
#: The size options, and their defaults with --smoke and without.
SIZES = [
    Size("--streams", int, "concurrent streams", smoke=8, full=64),
    Size("--events", int, "events per stream", smoke=200, full=2000),
    Size("--idle-cells", int, "cells timed before the load", smoke=5, full=50),
]


class LoadServer(JupyterInferless):
    """A Jupyter server whose kernel serves the throughput benchmark's Counter as ``load``,
    with room for every stream (``max_concurrency``)."""

    model_name = "load"


# --- streams -----------------------------------------------------------------------


async def run_streams(server: LoadServer, s: int, n: int) -> tuple[list[StreamResult], float]:
    """Open ``s`` streams of ``n`` events at once; return them and the wall time."""
    timeout = 60.0 + s * n / 2000
    start = time.perf_counter()
    results = await asyncio.gather(
        *(one_stream(server, {"n": n}, EventCheck(n), timeout) for _ in range(s))
    )
    return list(results), time.perf_counter() - start


# --- the benchmark -----------------------------------------------------------------


@dataclass
class Report:
    """Everything the benchmark prints at the end."""

    streams: int
    events: int
    results: list[StreamResult] = field(default_factory=list)
    wall: float = 0.0
    idle_cells: list[float] = field(default_factory=list)
    load_cells: list[float] = field(default_factory=list)
    idle_rss: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the load

    def correct(self) -> bool:
        """True when every stream was complete and correct."""
        return all(r.ok() for r in self.results)


def measure(server: LoadServer, stack: contextlib.ExitStack, args: argparse.Namespace) -> Report:
    """Warm up, measure idle cells and memory, then run the streams under observation."""
    report = Report(args.streams, args.events)
    warm, _ = asyncio.run(run_streams(server, 1, min(args.events, WARM_EVENTS)))
    if not warm[0].ok():
        raise ServerStartError(f"warm-up stream failed: {summarise(warm[0])}")
    pids = server.pids()
    print(f"ready: {describe(server)} (server pid {pids['server']}, kernel pid {pids['kernel']})")
    probe = Probe(server.connection_file, pids, server.workdir / "probe.log")
    stack.callback(probe.close)
    probe.receive(timeout=90)
    probe.call("ping 3")  # warm the path; not counted
    report.idle_cells = probe.call(f"ping {args.idle_cells}")["latencies"]
    report.idle_rss = probe.call("rss")
    print(
        f"idle: {len(report.idle_cells)} trivial cells, {ms_stats(report.idle_cells)}; "
        f"server RSS {report.idle_rss['server'] / MIB:.1f} MiB, "
        f"kernel RSS {report.idle_rss['kernel'] / MIB:.1f} MiB",
        flush=True,
    )
    print(f"load: opening {args.streams} streams x {args.events} events at once", flush=True)
    probe.call("load")
    client_cpu = time.process_time()
    report.results, report.wall = asyncio.run(run_streams(server, args.streams, args.events))
    client_cpu = time.process_time() - client_cpu
    during = probe.call(f"stop {time.monotonic()!r}")  # the clock is shared with the helper
    report.load_cells = during["latencies"]
    report.peak_rss = during["peak"]
    report.samples = during["samples"]
    report.cpu = {**during["cpu"], "client": client_cpu}
    return report


def print_report(report: Report) -> None:
    """Print the details, then the final block of lines quoted in the release notes."""
    results = report.results
    bad = [r for r in results if not r.ok()]
    for i, result in enumerate(results):
        if not result.ok() and i < 10:
            print(f"  stream {i}: {summarise(result)}")
    if len(bad) > 10:
        print(f"  ... and {len(bad) - 10} more failed streams")
    durations = [r.duration for r in results if r.duration is not None]
    ttfes = [r.ttfe for r in results if r.ttfe is not None]
    received = sum(r.check.received for r in results)
    print(
        f"streams: {len(results) - len(bad)} of {len(results)} complete and correct; "
        f"{received:,} events in {report.wall:.2f} s"
        + (
            f"; stream duration median {statistics.median(durations):.2f} s, "
            f"max {max(durations):.2f} s"
            if durations
            else ""
        )
    )
    print(
        "cpu during the load: "
        + ", ".join(f"{name} {secs:.2f} s" for name, secs in report.cpu.items())
        + f" (wall {report.wall:.2f} s)"
    )
    print(
        f"memory: {report.samples} samples every {SAMPLE_INTERVAL * 1e3:.0f} ms; "
        f"kernel RSS idle {report.idle_rss['kernel'] / MIB:.1f} MiB, "
        f"peak {report.peak_rss['kernel'] / MIB:.1f} MiB"
    )

    lost = sum(r.check.lost for r in results)
    dup = sum(r.check.duplicated for r in results)
    extra = [
        (sum(r.check.out_of_order for r in results), "out of order"),
        (sum(r.check.bad_data + r.check.unexpected for r in results), "wrong data or id"),
        (sum(1 for r in results if r.error or r.check.errors), "stream errors"),
    ]
    idle, peak = report.idle_rss["server"], report.peak_rss["server"]
    per_stream = (peak - idle) / report.streams / 1024
    k_idle, k_peak = report.idle_rss["kernel"], report.peak_rss["kernel"]
    cells = report.load_cells
    idle_median = statistics.median(report.idle_cells) * 1e3
    print()
    print(
        f"load: {report.streams} streams x {report.events} events: {lost} lost, {dup} duplicated"
        + "".join(f", {count} {label}" for count, label in extra if count)
    )
    rate = received / report.wall if report.wall else 0.0
    first = (
        f"first event median {statistics.median(ttfes) * 1e3:.1f} ms, "
        f"p99 {percentile(ttfes, 99) * 1e3:.1f} ms, max {max(ttfes) * 1e3:.1f} ms"
        if ttfes
        else "no first event"
    )
    print(f"load: aggregate {rate:,.0f} events/s; {first}")
    print(
        f"load: server memory per open stream = {per_stream:.1f} KiB "
        f"(idle {idle / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB)"
    )
    print(f"load: kernel memory idle {k_idle / MIB:.1f} MiB, peak {k_peak / MIB:.1f} MiB")
    print(
        f"load: trivial cell latency during load: {len(cells)} cells, {ms_stats(cells)} "
        f"(idle median {idle_median:.1f} ms) (target max <= {TARGET_CELL_MAX_MS:.0f} ms)"
    )
    missed = []
    if lost:
        missed.append("lost events")
    if dup:
        missed.append("duplicated events")
    missed += [label for count, label in extra if count]
    if not cells or max(cells) * 1e3 > TARGET_CELL_MAX_MS:
        missed.append("cell latency")
    print("PASS" if not missed else f"FAIL: {', '.join(missed)}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; --smoke sets small defaults."""
    parser = size_parser(__doc__, "8 streams x 200 events, 5 cells", SIZES)
    return parse_sizes(parser, SIZES, argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = parse_args(argv)
    print(
        f"load benchmark: {args.streams} concurrent streams x {args.events} events "
        f"from one model in one kernel ({machine()})",
        flush=True,
    )

    def run(workdir: Path, stack: contextlib.ExitStack) -> Report:
        concurrency = max(CONCURRENCY, args.streams)
        server = launch(LoadServer(workdir, max_concurrency=concurrency), stack)
        server.wait_ready()
        return measure(server, stack, args)

    report = run_measured("load-bench-", (ServerStartError, ProbeError), run)
    print_report(report)
    return 0 if report.correct() else 1


if __name__ == "__main__":
    sys.exit(main())
