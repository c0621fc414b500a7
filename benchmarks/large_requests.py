"""Large requests benchmark: what 10 MiB requests add to a concurrent stream's latency.

One real Jupyter server with the extension and two kernels: one serves the tests' Ticker
as ``tick`` (an event every 50 ms, each carrying the model's ``time.time()`` at its send),
the other the tests' Sizer as ``big`` (not streaming: an INT8 input ``x`` of any length,
answered with its count and sum). The benchmark reads one ``tick`` stream and notes each
event's added latency (the read's ``time.time()`` minus the send's: one machine, one
clock). Each round runs the same stream three times, in an order that rotates: alone
(quiet), while a helper process posts 10 MiB v2 infer requests to ``big`` one after the
other with Triton's binary tensor extension (10 MiB of INT8 after the JSON header), and
while it posts them as JSON (a 10 MiB ``{"inputs": [...]}`` body). Every answer is checked
(the count and the sum of what was sent), and every event of every stream (as load.py).

Target: a large request adds at most 50 ms to the stream's events: the p99 added latency
with large requests minus the p99 of the quiet runs, for each kind, <= 50 ms.

    python benchmarks/large_requests.py [--smoke] [--rounds R] [--events N] [--mib M]

Exit code: 0 when every stream and every answer was right (whether or not the target was
met), 1 on a wrong or failed stream or answer, or a failed start.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _cli import Size, machine, parse_sizes, run_measured, size_parser
from _large_sender import Sender
from _probe import percentile
from _servers import JupyterInferless, ServerStartError, _lists_model, describe, launch
from _shared import SIZER, TICKER, connect, run_cell
from _streams import Address, one_stream, summarise
from token_rate import TickCheck

PACE_MS = 50
TARGET_ADDED_MS = 50.0
KINDS = ("quiet", "binary", "json")
#: The size options, and their defaults with --smoke and without.
SIZES = [
    Size("--rounds", int, "rounds, each a quiet, a binary and a JSON run", smoke=1, full=3),
    Size("--events", int, "events of each run's stream, 50 ms apart", smoke=100, full=200, least=5),
    Size("--mib", float, "size of each large request, MiB", smoke=10, full=10, least=0.01),
]


class LargeRequestServer(JupyterInferless):
    """A Jupyter server with two kernels: ``tick`` (Ticker) in one, ``big`` (Sizer) in the
    other, so that the kernel decoding a large request is not the one streaming."""

    model = TICKER
    model_name = "tick"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.big_kernel: str | None = None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """The tick kernel as usual; then a second kernel serving ``big``."""
        super().wait_ready(timeout)
        with self.client() as http:
            self.big_kernel = self._start_kernel(http)
            self.remember_children()
            conn = self.jupyter_dir / "runtime" / f"kernel-{self.big_kernel}.json"
            self._poll(conn.exists, 10.0, f"write {conn.name}")
            client = connect(conn)
            try:
                run_cell(client, "%load_ext jupyter_inferless\n" + SIZER.serve("big"), timeout=60)
            finally:
                client.stop_channels()
            self._poll(lambda: _lists_model(http, "big"), 10.0, "list model 'big'")

    def stop(self) -> None:
        """Shut the second kernel down too."""
        if self.big_kernel is not None and self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError), self.client() as http:
                http.delete(f"/api/kernels/{self.big_kernel}", timeout=10)
        self.big_kernel = None
        super().stop()


# --- rounds -------------------------------------------------------------------------------


@dataclass
class Run:
    """One run of the stream: its kind, added latencies, and the large requests beside it."""

    kind: str
    latencies: list[float] = field(default_factory=list)
    requests: list[float] = field(default_factory=list)  # each large request's duration
    problems: list[str] = field(default_factory=list)

    @property
    def p99(self) -> float:
        """The run's p99 added latency, seconds."""
        return percentile(self.latencies, 99) if self.latencies else float("nan")


def run_stream(server: LargeRequestServer, sender: Sender, kind: str, n: int) -> Run:
    """One ``tick`` stream of ``n`` events; for a large kind, the sender posts meanwhile."""
    run = Run(kind)
    seconds = n * PACE_MS / 1000
    if kind != "quiet":
        sender.start(kind, seconds)
    endpoint = Address(server.port, server.path, server.headers)
    check = TickCheck(n)
    result = asyncio.run(one_stream(endpoint, {"n": n, "pause_ms": PACE_MS}, check, 60 + seconds))
    run.latencies = check.latencies
    if not result.ok():
        run.problems.append(f"{kind} stream: {summarise(result)}")
    if kind != "quiet":
        answer = sender.answer()
        run.requests = answer["durations"]
        run.problems += [f"{kind} request: {failure}" for failure in answer["failed"][:3]]
    return run


def measure(workdir: Path, stack: contextlib.ExitStack, args: Any) -> list[Run]:
    """Start the server and the sender; warm up; then the rounds."""
    server = launch(LargeRequestServer(workdir), stack)
    server.wait_ready()
    pids = server.pids()
    print(f"ready: {describe(server)} (server pid {pids['server']})", flush=True)
    size = int(args.mib * 1024 * 1024)
    sender = Sender(server.port, server.headers, size, workdir / "sender.log")
    stack.callback(sender.close)
    for kind in KINDS:  # warm-up: one of each, not counted
        warm = run_stream(server, sender, kind, 5)
        if warm.problems:
            raise ServerStartError(f"warm-up failed: {warm.problems[0]}")
    runs: list[Run] = []
    for round_index in range(args.rounds):
        shift = round_index % len(KINDS)
        for kind in KINDS[shift:] + KINDS[:shift]:
            run = run_stream(server, sender, kind, args.events)
            runs.append(run)
            print(
                f"round {round_index + 1} {kind:6}: p99 {run.p99 * 1e3:6.1f} ms over "
                f"{len(run.latencies)} events, {len(run.requests)} large requests"
                + (f"; {'; '.join(run.problems)}" if run.problems else ""),
                flush=True,
            )
    return runs


def report(runs: list[Run], mib: float) -> bool:
    """Print each kind's figures and the target; return True when all runs were right."""
    by_kind = {kind: [run for run in runs if run.kind == kind] for kind in KINDS}
    quiet_p99 = percentile([x for run in by_kind["quiet"] for x in run.latencies], 99)
    missed: list[str] = []
    print()
    for kind in KINDS:
        latencies = [x for run in by_kind[kind] for x in run.latencies]
        spread = ", ".join(f"{run.p99 * 1e3:.1f}" for run in by_kind[kind])
        p99 = percentile(latencies, 99)
        line = (
            f"{kind:6}: added latency median {statistics.median(latencies) * 1e3:.1f} ms, "
            f"p99 {p99 * 1e3:.1f} ms, max {max(latencies) * 1e3:.1f} ms "
            f"(each run's p99: {spread} ms)"
        )
        if kind != "quiet":
            requests = [x for run in by_kind[kind] for x in run.requests]
            added = (p99 - quiet_p99) * 1e3
            median = statistics.median(requests)
            line += (
                f"; {len(requests)} {mib:g} MiB requests, median {median:.2f} s"
                f"\n{kind:6}: p99 with large requests - p99 quiet = {added:+.1f} ms "
                f"(target <= {TARGET_ADDED_MS:.0f} ms)"
            )
            if added > TARGET_ADDED_MS:
                missed.append(f"{kind} adds {added:.1f} ms")
        print(line)
    print("PASS" if not missed else f"FAIL: {'; '.join(missed)}")
    return not any(run.problems for run in runs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    parser = size_parser(__doc__ or "", "1 round of 100-event runs (about a minute)", SIZES)
    args = parse_sizes(parser, SIZES, argv)
    print(f"large requests: {args.mib:g} MiB, {args.rounds} rounds x 3 runs ({machine()})")
    runs = run_measured(
        "large-requests-bench-", (ServerStartError,), lambda d, s: measure(d, s, args)
    )
    return 0 if report(runs, args.mib) else 1


if __name__ == "__main__":
    sys.exit(main())
