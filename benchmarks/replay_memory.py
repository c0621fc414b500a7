"""Replay memory benchmark: what finished streams cost the server under the replay budget.

A real Jupyter server with the extension, started with ``--Broker.replay_budget_bytes``
set to the budget, runs a kernel that serves the ``replay`` model (tests/support/models.py's
Padded: ``n`` events of about 4 KiB). S streams of M MiB each are read to their end one
after another, so every one finishes with all of its events delivered and kept for replay
as far as the budget allows. The server's RSS is read before (after a warm-up) and after,
and sampled in between for the peak. Then three resumes check what was kept: the last
stream replays from its first event, the first one gets 410 (its events were evicted), and
204 after its last event. Last, three times, D runs of 8 MB (inside the kernel's credit)
start at once and each client hangs up once the headers are in: their events, never
delivered, count in the budget too. The RSS after each batch and the peak, over the idle.

    python benchmarks/replay_memory.py [--smoke] [--streams S] [--stream-mib M] [--budget-mib B]
        [--dropped D]

Exit code: 0 when the server grew by less than the budget + 64 MiB in both parts and every
stream and resume answered as expected; 1 otherwise, or when the server failed to start.
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

import httpx
from _cli import Size, machine, parse_sizes, run_measured, size_parser
from _memory import RssSampler, dropped_growth
from _servers import HOST, JupyterInferless, ServerStartError, describe, launch
from _shared import PADDED, Event
from _sse_client import ProtocolError, build_request, read_sse_body

MIB = 1024 * 1024
EVENT_BYTES = 4096  # one event's JSON line, about
SLACK_MIB = 64  # the target: growth < budget + this
DROPPED_EVENTS = 1950  # of about 4 KiB: an 8 MB run, inside the kernel's 8 MiB credit
#: The size options, and their defaults with --smoke and without.
SIZES = [
    Size("--streams", int, "finished streams", smoke=20, full=150),
    Size("--stream-mib", float, "MiB per stream", smoke=1, full=4, least=0.01),
    Size("--budget-mib", int, "replay_budget_bytes in MiB", smoke=8, full=64, least=0),
    Size("--dropped", int, "runs per batch whose clients hang up", smoke=20, full=150, least=0),
]

PAD = EVENT_BYTES - len('{"i": 1000, "pad": ""}')


class ReplayServer(JupyterInferless):
    """A Jupyter server with a replay budget, whose kernel serves tests/support/models.py's Padded
    as ``replay``."""

    model = PADDED
    model_name = "replay"

    def __init__(self, workdir: Path, budget: int, queue: int) -> None:
        super().__init__(workdir, queue_size=queue)
        self.budget = budget

    def argv(self) -> list[str]:
        """The server's command line, with the budget."""
        return [*super().argv(), f"--Broker.replay_budget_bytes={self.budget}"]


@dataclass
class Read:
    """One stream read to its end."""

    rid: str
    ids: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def read_stream(server: ReplayServer, n: int) -> Read:
    """POST one stream of ``n`` events and read it to the end."""
    reader, writer = await asyncio.open_connection(HOST, server.port, limit=2**20)
    ids: list[str] = []

    def sink(events: list[Event]) -> None:
        ids.extend(event_id.decode() for event_id, _ in events)

    body = b'{"n": %d, "size": %d}' % (n, PAD)
    started = time.perf_counter()
    try:
        writer.write(build_request(HOST, server.port, server.path, body, server.headers))
        head = await read_sse_body(reader, sink)
    finally:
        writer.close()
    read = Read(head.headers["x-request-id"], ids, time.perf_counter() - started)
    if len(ids) != n:
        raise ProtocolError(f"stream {read.rid}: {len(ids)} events, expected {n}")
    return read


async def read_all(server: ReplayServer, streams: int, n: int) -> list[Read]:
    """Read ``streams`` streams of ``n`` events, one after another."""
    return [await read_stream(server, n) for _ in range(streams)]


def resume(server: ReplayServer, rid: str, last_id: str) -> tuple[int, int]:
    """Resume stream ``rid`` after event ``last_id``: (status, events received)."""
    with server.client() as http:
        response = http.get(
            f"/inferless/api/streams/{rid}", headers={"Last-Event-ID": last_id}, timeout=60
        )
    events = sum(1 for line in response.text.splitlines() if line.startswith("data:"))
    return response.status_code, events


@dataclass
class Report:
    """Everything the benchmark prints at the end."""

    streams: int
    stream_mib: float
    budget: int
    idle: int = 0
    after: int = 0
    peak: int = 0
    seconds: list[float] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)
    dropped_runs: int = 0
    dropped: list[float] = field(default_factory=list)  # MiB grown after each batch, and
    dropped_peak: float = 0.0  # at most, over the RSS before the first

    @property
    def grew(self) -> float:
        """Server growth in MiB, from idle to after the streams."""
        return (self.after - self.idle) / MIB

    @property
    def target(self) -> float:
        """The growth allowed, in MiB."""
        return self.budget / MIB + SLACK_MIB

    def passed(self) -> bool:
        """True when the growth is under the target and every check held."""
        return self.grew < self.target and all(ok for _, ok in self.checks)

    def dropped_passed(self) -> bool:
        """True when the runs whose clients hung up grew the server less than the target."""
        return max([self.dropped_peak, *self.dropped]) < self.target


def measure(server: ReplayServer, args: argparse.Namespace) -> Report:
    """Warm up, then read the streams while sampling the server's memory, then resume."""
    n = round(args.stream_mib * MIB / EVENT_BYTES)
    report = Report(args.streams, args.stream_mib, args.budget_mib * MIB)
    assert server.proc is not None
    asyncio.run(read_all(server, 3, 10))  # warm the code paths, not the budget
    with RssSampler(server.proc.pid) as sampler:
        time.sleep(0.5)
        report.idle = sampler.rss()
        print(f"idle: server RSS {report.idle / MIB:.1f} MiB", flush=True)
        reads = asyncio.run(read_all(server, args.streams, n))
        time.sleep(0.5)
        report.after = sampler.rss()
    report.peak = sampler.peak
    report.seconds = [r.seconds for r in reads]
    first, last = reads[0], reads[-1]
    evicted = args.streams * n * EVENT_BYTES > report.budget  # the first stream's, at least
    report.checks = [
        (
            "the last stream replays from its first event",
            resume(server, last.rid, last.ids[0]) == (200, n - 1),
        ),
        (
            "the first stream, from its first event: " + ("410" if evicted else "200"),
            resume(server, first.rid, first.ids[0])[0] == (410 if evicted else 200),
        ),
        (
            "the first stream, after its last event: 204",
            resume(server, first.rid, first.ids[-1])[0] == 204,
        ),
    ]
    if args.dropped:
        body = {"n": DROPPED_EVENTS, "size": PAD}
        report.dropped_runs = args.dropped
        grown = dropped_growth(server, args.dropped, body, 3, report.idle)
        report.dropped, report.dropped_peak = grown
    return report


def print_report(report: Report) -> None:
    """The details, then the line quoted in the release notes."""
    for label, ok in report.checks:
        print(f"resume: {label}: {'ok' if ok else 'WRONG'}")
    total = sum(report.seconds)
    print(
        f"streams: {report.streams} read in {total:.1f} s "
        f"(median {statistics.median(report.seconds) * 1e3:.0f} ms each); "
        f"server RSS idle {report.idle / MIB:.1f} MiB, after {report.after / MIB:.1f} MiB, "
        f"peak {report.peak / MIB:.1f} MiB"
    )
    print()
    verdict = "PASS" if report.passed() else "FAIL"
    print(
        f"replay: {report.streams} finished {report.stream_mib:g} MiB streams: server grew "
        f"{report.grew:.1f} MiB = {report.grew / report.streams:.2f} MiB per finished stream "
        f"(budget {report.budget / MIB:g} MiB; target growth < budget + {SLACK_MIB} MiB) "
        f"{verdict}"
    )
    if report.dropped:
        grown = ", ".join(f"{mib:.1f}" for mib in report.dropped)
        print(
            f"replay: {len(report.dropped)} x {report.dropped_runs} runs of 8 MB whose clients "
            f"hung up after the headers: server grew {grown} MiB after each batch, peak "
            f"{report.dropped_peak:.1f} MiB (budget {report.budget / MIB:g} MiB; target < "
            f"budget + {SLACK_MIB} MiB) {'PASS' if report.dropped_passed() else 'FAIL'}"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; --smoke sets small defaults."""
    parser = size_parser(__doc__, "20 streams x 1 MiB, 8 MiB budget", SIZES)
    return parse_sizes(parser, SIZES, argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = parse_args(argv)
    print(
        f"replay memory benchmark: {args.streams} streams x {args.stream_mib:g} MiB read to "
        f"the end, replay budget {args.budget_mib} MiB ({machine()})",
        flush=True,
    )

    def run(workdir: Path, stack: contextlib.ExitStack) -> Report:
        server = launch(ReplayServer(workdir, args.budget_mib * MIB, args.dropped + 16), stack)
        server.wait_ready()
        assert server.proc is not None
        print(f"ready: {describe(server)} (server pid {server.proc.pid})")
        return measure(server, args)

    errors = (ServerStartError, ProtocolError, httpx.HTTPError)
    report = run_measured("replay-bench-", errors, run)
    print_report(report)
    return 0 if report.passed() and report.dropped_passed() else 1


if __name__ == "__main__":
    sys.exit(main())
