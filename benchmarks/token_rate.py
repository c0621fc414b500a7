"""Token-rate benchmark: streams paced like a language model's tokens, one and at scale.

Each event carries the model's ``time.time()`` at its send (``{"OUT": "tok", "i": i, "t":
t}``: tests/support/models.py's Ticker, or AsyncTicker for ``async def infer``); the client notes
``time.time()`` right after parsing the read that held it, so the added latency of every
event is receive - send (one machine: the clocks are the same). Each path, thread (sync
infer, time.sleep) and async (async infer, await asyncio.sleep on the model's loop), runs
in its own real Jupyter server and kernel, one after the other, with three scenarios:

1. one stream at 100 events/s (10 ms apart): added latency p50 <= 3 ms, p99 <= 10 ms;
2. S streams (256) at 50 events/s each (20 ms apart) at once, from a model with
   max_concurrency S, read by 2 client processes: no event lost or duplicated, added
   latency p99 <= 50 ms, server memory growth per open stream <= 64 KiB, a trivial cell
   (``1+1``, timed by a helper process) worst <= 100 ms during the load; also the wall time
   against the ideal, and the CPU of the kernel, the server and the clients;
3. a burst of B requests (64) at once at a model with max_concurrency 64, 20 events 20 ms
   apart: time from request to first event p99 <= 100 ms.

    python benchmarks/token_rate.py [--smoke] [--paths thread,async] [--streams S] ...
    python benchmarks/token_rate.py --paths thread --profile kernel.txt [--profile-args ARGS]

``--profile FILE`` samples the thread path's kernel with py-spy during scenario 2 and
prints its top functions (see benchmarks/README.md).

Exit code: 0 when every stream was complete and correct (whether or not the targets were
met), 1 on lost, duplicated, out-of-order or wrong events, a stream error, or a failed start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _profile
import psutil
from _cli import Size, machine, parse_sizes, run_measured, size_parser
from _probe import MIB, Probe, ProbeError, percentile
from _servers import JupyterInferless, ServerStartError, describe, launch
from _shared import ASYNC_TICKER, TICKER, Event, Model
from _streams import Address, EventCheck, StreamResult, one_stream, summarise

PATHS: dict[str, Model] = {"thread": TICKER, "async": ASYNC_TICKER}
ONE_PACE_MS = 10  # scenario 1: 100 events/s
MANY_PACE_MS = 20  # scenario 2: 50 events/s per stream
BURST_PACE_MS = 20
BURST_EVENTS = 20
BURST_CONCURRENCY = 64
TARGET_ONE_P50_MS = 3.0
TARGET_ONE_P99_MS = 10.0
TARGET_MANY_P99_MS = 50.0
TARGET_MEMORY_KIB = 64.0
TARGET_CELL_MAX_MS = 100.0
TARGET_BURST_P99_MS = 100.0
#: The size options, and their defaults with --smoke and without.
SIZES = [
    Size("--events", int, "events of the one 100 events/s stream", smoke=100, full=500),
    Size("--streams", int, "concurrent 50 events/s streams", smoke=32, full=256),
    Size("--stream-events", int, "events per concurrent stream", smoke=25, full=100),
    Size("--burst", int, "requests in a burst", smoke=32, full=64),
    Size("--clients", int, "client processes for the concurrent streams", smoke=2, full=2),
    Size("--idle-cells", int, "cells timed before the load", smoke=5, full=50),
]
DEVICE_CODE = """
try:
    import torch
except ImportError:
    print("cpu (torch not installed)")
else:
    print(("cuda" if torch.cuda.is_available() else "cpu") + f" (torch {torch.__version__})")
"""


class TokenRateServer(JupyterInferless):
    """A Jupyter server whose kernel serves one path's ticker as ``tick`` (max_concurrency
    S, for scenarios 1 and 2) and as ``burst`` (max_concurrency 64, for scenario 3)."""

    model_name = "tick"

    def __init__(self, workdir: Path, path: str, streams: int, burst: int) -> None:
        super().__init__(workdir)
        self.name = f"jupyter_inferless ({path} path)"
        model = PATHS[path]
        room = max(BURST_CONCURRENCY, burst)
        self.kernel_code = "%load_ext jupyter_inferless\n" + "".join(
            [
                model.serve("tick", max_concurrency=streams, queue_size=streams),
                model.serve("burst", max_concurrency=BURST_CONCURRENCY, queue_size=room),
            ]
        )

    def endpoint(self, model: str) -> Address:
        """Where ``model``'s streams are posted."""
        return Address(self.port, f"/inferless/v2/models/{model}/generate_stream", self.headers)


# --- streams, in this process or in a client process ----------------------------------


class TickCheck(EventCheck):
    """A stream's check that also notes each event's added latency (receive - send)."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.latencies: list[float] = []
        self.sent: list[float] = []  # each event's send time, beside its latency
        self._now = 0.0

    def __call__(self, events: list[Event]) -> None:
        """Note the time the read was parsed, then check its events."""
        self._now = time.time()
        super().__call__(events)

    def matches(self, k: int, value: Any) -> bool:
        """Event k is ``{"OUT": "tok", "i": k, "t": SEND_TIME}``."""
        ok = (
            isinstance(value, dict)
            and value.keys() == {"OUT", "i", "t"}
            and value["OUT"] == "tok"
            and value["i"] == k
            and isinstance(value["t"], float)
        )
        if ok:
            self.latencies.append(self._now - value["t"])
            self.sent.append(value["t"])
        return ok


@dataclass
class Tally:
    """What a set of streams delivered, in a form a client process can send as JSON."""

    streams: int = 0
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    wrong: int = 0  # wrong data or id
    errors: int = 0  # streams that failed or carried an error event
    failed: list[str] = field(default_factory=list)  # a line on each of the first ones
    latencies: list[float] = field(default_factory=list)  # added latency of each event, s
    sent: list[float] = field(default_factory=list)  # each event's send time (time.time())
    began: list[float] = field(default_factory=list)  # each stream's first send time
    ttfes: list[float] = field(default_factory=list)  # request -> first event, s
    durations: list[float] = field(default_factory=list)  # request -> end, s
    clients_cpu: list[float] = field(default_factory=list)  # CPU s of each client process
    start: float = math.inf  # time.time() when the first request was sent
    end: float = 0.0  # time.time() when the last stream ended

    def add(self, result: StreamResult) -> None:
        """Count one stream."""
        c = result.check
        assert isinstance(c, TickCheck)
        self.streams += 1
        self.received += c.received
        self.lost += c.lost
        self.duplicated += c.duplicated
        self.out_of_order += c.out_of_order
        self.wrong += c.bad_data + c.unexpected
        self.errors += bool(result.error or c.errors)
        if not result.ok() and len(self.failed) < 10:
            self.failed.append(summarise(result))
        self.latencies += c.latencies
        self.sent += c.sent
        if c.sent:
            self.began.append(c.sent[0])
        if result.ttfe is not None:
            self.ttfes.append(result.ttfe)
        if result.duration is not None:
            self.durations.append(result.duration)

    def merge(self, other: Tally) -> None:
        """Add another tally's streams (another client process's)."""
        for name in ("streams", "received", "lost", "duplicated", "out_of_order", "wrong"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors
        self.failed = (self.failed + other.failed)[:10]
        for name in ("latencies", "sent", "began", "ttfes", "durations", "clients_cpu"):
            getattr(self, name).extend(getattr(other, name))
        self.start, self.end = min(self.start, other.start), max(self.end, other.end)

    def problems(self) -> list[str]:
        """Labels of what was wrong: lost, duplicated, out of order, wrong, errors."""
        counts = [
            (self.lost, "lost events"),
            (self.duplicated, "duplicated events"),
            (self.out_of_order, "out-of-order events"),
            (self.wrong, "wrong data or id"),
            (self.errors, "stream errors"),
        ]
        return [label for count, label in counts if count]

    def after_ramp(self) -> tuple[float, list[float]]:
        """When the last stream sent its first event (s after the first request), and the
        added latencies of the events sent after that: the load without its ramp."""
        if not self.began:
            return math.nan, []
        ramp_end = max(self.began)
        later = [lat for lat, t in zip(self.latencies, self.sent, strict=True) if t > ramp_end]
        return ramp_end - self.start, later

    @property
    def wall(self) -> float:
        """Seconds from the first request to the end of the last stream."""
        return max(0.0, self.end - self.start)


async def run_ticks(endpoint: Address, s: int, n: int, pause_ms: int) -> Tally:
    """Open ``s`` streams of ``n`` events ``pause_ms`` apart at once; tally them."""
    timeout = 60.0 + 3 * n * pause_ms / 1000
    inputs = {"n": n, "pause_ms": pause_ms}
    tally = Tally(start=time.time())
    results = await asyncio.gather(
        *(one_stream(endpoint, inputs, TickCheck(n), timeout) for _ in range(s))
    )
    tally.end = time.time()
    for result in results:
        tally.add(result)
    return tally


def client_main(spec: dict[str, Any]) -> int:
    """A client process: say ready, wait for ``go`` on stdin, run the streams, answer with
    the tally as one JSON line."""
    endpoint = Address(spec["port"], spec["path"], spec["headers"])
    print(json.dumps({"ready": True}), flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    used = time.process_time()
    tally = asyncio.run(run_ticks(endpoint, spec["streams"], spec["n"], spec["pause_ms"]))
    tally.clients_cpu = [time.process_time() - used]
    print(json.dumps(asdict(tally)), flush=True)
    return 0


class Clients:
    """Client processes (this script with ``--client``) that split S streams among them."""

    def __init__(self, endpoint: Address, s: int, n: int, count: int, log: Path) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        with log.open("ab") as err:
            for i in range(count):
                spec = {**asdict(endpoint), "n": n, "pause_ms": MANY_PACE_MS}
                spec["streams"] = s // count + (i < s % count)
                argv = [sys.executable, __file__, "--client", json.dumps(spec)]
                pipe = subprocess.PIPE
                proc = subprocess.Popen(argv, stdin=pipe, stdout=pipe, stderr=err, text=True)
                self.procs.append(proc)

    def ready(self) -> None:
        """Wait until every client process has started."""
        for proc in self.procs:
            self._line(proc)

    def _line(self, proc: subprocess.Popen[str]) -> dict[str, Any]:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise ProbeError(f"a client process exited (code {proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self) -> Tally:
        """Start every client's streams at once; return the tally of them all."""
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        tally = Tally()
        for proc in self.procs:
            tally.merge(Tally(**self._line(proc)))
        return tally

    def close(self) -> None:
        """Stop any client still running."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)


# --- one path: its server, its three scenarios -----------------------------------------


@dataclass
class PathReport:
    """What one path (thread or async) measured."""

    path: str
    one: Tally = field(default_factory=Tally)
    many: Tally = field(default_factory=Tally)
    burst: Tally = field(default_factory=Tally)
    idle_cells: list[float] = field(default_factory=list)
    load_cells: list[float] = field(default_factory=list)
    idle_rss: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during scenario 2
    busy: float = 0.0  # share of all the machine's cores busy during scenario 2
    device: str | None = None

    def problems(self) -> list[str]:
        """What was wrong with any stream of any scenario."""
        found = self.one.problems() + self.many.problems() + self.burst.problems()
        return list(dict.fromkeys(found))


def warm_up(server: TokenRateServer) -> None:
    """One short unpaced stream per model; a failure means the server is not usable."""
    for model in ("tick", "burst"):
        tally = asyncio.run(run_ticks(server.endpoint(model), 1, 10, 0))
        if tally.problems():
            raise ServerStartError(f"warm-up stream of {model!r} failed: {tally.failed}")


def run_many(
    server: TokenRateServer, probe: Probe, args: argparse.Namespace, report: PathReport
) -> None:
    """Scenario 2: S paced streams from client processes, the helper pinging the kernel
    and sampling memory meanwhile (and py-spy sampling the kernel, when asked)."""
    clients = Clients(
        server.endpoint("tick"),
        args.streams,
        args.stream_events,
        args.clients,
        server.workdir / "clients.log",
    )
    try:
        clients.ready()
        probe.call("load")
        spy = start_profile(server, args) if report.path == "thread" else None
        before = psutil.cpu_times()
        report.many = clients.run()
        report.busy = busy_share(before, psutil.cpu_times())
        during = probe.call(f"stop {time.monotonic()!r}")  # the clock is the helper's too
    finally:
        clients.close()
    report.load_cells = during["latencies"]
    report.peak_rss = during["peak"]
    report.cpu = during["cpu"]
    if spy is not None:
        spy.wait(60)
        _profile.print_top(Path(args.profile))


def busy_share(before: Any, after: Any) -> float:
    """The share of all cores' time that was not idle between two ``psutil.cpu_times()``."""
    total = sum(after) - sum(before)
    idle = (after.idle + getattr(after, "iowait", 0)) - (before.idle + getattr(before, "iowait", 0))
    return 1 - idle / total if total > 0 else 0.0


def start_profile(server: TokenRateServer, args: argparse.Namespace) -> Any:
    """Start py-spy on the kernel for scenario 2's ideal duration, when asked."""
    if not args.profile:
        return None
    seconds = max(1, math.ceil((args.stream_events - 1) * MANY_PACE_MS / 1000))
    options = shlex.split(args.profile_args)
    spy = _profile.record(server.pids()["kernel"], Path(args.profile), seconds, options)
    time.sleep(0.5)  # let it attach
    return spy


def measure_path(
    path: str, workdir: Path, stack: contextlib.ExitStack, args: argparse.Namespace
) -> PathReport:
    """Start the path's server, warm it up, then run the three scenarios."""
    report = PathReport(path)
    server = launch(TokenRateServer(workdir, path, args.streams, args.burst), stack)
    server.wait_ready()
    warm_up(server)
    pids = server.pids()
    print(f"ready: {describe(server)} (server pid {pids['server']}, kernel pid {pids['kernel']})")
    probe = Probe(server.connection_file, pids, workdir / "probe.log")
    stack.callback(probe.close)
    probe.receive(timeout=90)
    probe.call("ping 3")  # warm the path; not counted
    print(f"  1. one stream of {args.events} events, {ONE_PACE_MS} ms apart", flush=True)
    report.one = asyncio.run(run_ticks(server.endpoint("tick"), 1, args.events, ONE_PACE_MS))
    report.idle_cells = probe.call(f"ping {args.idle_cells}")["latencies"]
    report.idle_rss = probe.call("rss")
    print(
        f"  2. {args.streams} streams x {args.stream_events} events, {MANY_PACE_MS} ms apart, "
        f"from {args.clients} client processes",
        flush=True,
    )
    run_many(server, probe, args, report)
    print(f"  3. burst of {args.burst} requests, {BURST_EVENTS} events each", flush=True)
    report.burst = asyncio.run(
        run_ticks(server.endpoint("burst"), args.burst, BURST_EVENTS, BURST_PACE_MS)
    )
    if path == args.paths[0]:
        report.device = server.run_code(DEVICE_CODE).strip()
    return report


# --- the report -----------------------------------------------------------------------


class Verdict:
    """The figures checked against their targets, printed one per line."""

    def __init__(self) -> None:
        self.missed: list[str] = []

    def check(self, line: str, value: float | None, target: float, unit: str) -> None:
        """Print ``line`` with ``value`` against ``target`` (an upper bound)."""
        ok = value is not None and value <= target
        shown = "n/a" if value is None else f"{value:.1f} {unit}"
        print(f"  {line} = {shown}  (target <= {target:g} {unit})  {'PASS' if ok else 'FAIL'}")
        if not ok:
            self.missed.append(line)

    def correct(self, line: str, tally: Tally) -> None:
        """Print a scenario's counts of lost and duplicated events (target 0 each)."""
        problems = tally.problems()
        extra = "".join(f", {p}" for p in problems if "lost" not in p and "duplicated" not in p)
        print(
            f"  {line}: {tally.received:,} events in {tally.streams} stream"
            f"{'s' if tally.streams != 1 else ''}, {tally.lost} lost, "
            f"{tally.duplicated} duplicated{extra}  (target 0)  {'FAIL' if problems else 'PASS'}"
        )
        for failure in tally.failed[:3]:
            print(f"    {failure}")
        self.missed += [f"{line}: {p}" for p in problems]


def _ms(values: Sequence[float], q: float) -> float | None:
    return percentile(values, q) * 1e3 if values else None


def _ms_text(values: Sequence[float]) -> str:
    if not values:
        return "none"
    return (
        f"p50 {percentile(values, 50) * 1e3:.1f} ms, p99 {percentile(values, 99) * 1e3:.1f} ms, "
        f"max {max(values) * 1e3:.1f} ms"
    )


def print_one(reports: list[PathReport], verdict: Verdict, args: argparse.Namespace) -> None:
    """Scenario 1's lines."""
    print(f"\n1. one stream, {1000 // ONE_PACE_MS} events/s, {args.events} events")
    for r in reports:
        verdict.correct(f"{r.path}: events", r.one)
        verdict.check(
            f"{r.path}: added latency p50", _ms(r.one.latencies, 50), TARGET_ONE_P50_MS, "ms"
        )
        verdict.check(
            f"{r.path}: added latency p99", _ms(r.one.latencies, 99), TARGET_ONE_P99_MS, "ms"
        )


def print_many(reports: list[PathReport], verdict: Verdict, args: argparse.Namespace) -> None:
    """Scenario 2's lines."""
    s, n = args.streams, args.stream_events
    ideal = (n - 1) * MANY_PACE_MS / 1000
    print(f"\n2. {s} streams x {n} events at once, {1000 // MANY_PACE_MS} events/s each")
    for r in reports:
        t = r.many
        verdict.correct(f"{r.path}: events", t)
        print(f"  {r.path}: added latency {_ms_text(t.latencies)}")
        verdict.check(
            f"{r.path}: added latency p99", _ms(t.latencies, 99), TARGET_MANY_P99_MS, "ms"
        )
        ramp, later = t.after_ramp()
        print(
            f"  {r.path}: every stream had begun {ramp:.2f} s after the first request; the "
            f"{len(later):,} events sent after that: added latency {_ms_text(later)}"
        )
        durations = statistics.median(t.durations) if t.durations else math.nan
        print(
            f"  {r.path}: wall {t.wall:.2f} s vs ideal {ideal:.2f} s "
            f"({(t.wall / ideal - 1) * 100 if ideal else math.nan:+.0f}%); stream duration "
            f"median {durations:.2f} s; first event {_ms_text(t.ttfes)}"
        )
        events = max(t.received, 1)
        cpu_line = ", ".join(f"{name} {secs:.2f} s" for name, secs in r.cpu.items())
        clients = " + ".join(f"{c:.2f}" for c in t.clients_cpu)
        print(
            f"  {r.path}: CPU during the load: {cpu_line}, clients {clients} s (wall "
            f"{t.wall:.2f} s); kernel {r.cpu.get('kernel', 0) / events * 1e6:.0f} us per event; "
            f"the machine's {psutil.cpu_count()} cores {r.busy:.0%} busy (all processes)"
        )
        grown = (r.peak_rss["server"] - r.idle_rss["server"]) / s / 1024
        print(
            f"  {r.path}: server RSS idle {r.idle_rss['server'] / MIB:.1f} MiB, "
            f"peak {r.peak_rss['server'] / MIB:.1f} MiB; kernel RSS idle "
            f"{r.idle_rss['kernel'] / MIB:.1f} MiB, peak {r.peak_rss['kernel'] / MIB:.1f} MiB"
        )
        verdict.check(f"{r.path}: server memory per open stream", grown, TARGET_MEMORY_KIB, "KiB")
        idle = r.idle_cells
        print(
            f"  {r.path}: trivial cell: idle {len(idle)} cells, {_ms_text(idle)}; during the "
            f"load {len(r.load_cells)} cells, median "
            f"{statistics.median(r.load_cells) * 1e3 if r.load_cells else math.nan:.1f} ms"
        )
        worst = max(r.load_cells) * 1e3 if r.load_cells else None
        verdict.check(f"{r.path}: trivial cell worst", worst, TARGET_CELL_MAX_MS, "ms")


def print_burst(reports: list[PathReport], verdict: Verdict, args: argparse.Namespace) -> None:
    """Scenario 3's lines."""
    print(
        f"\n3. burst: {args.burst} requests at once, max_concurrency {BURST_CONCURRENCY}, "
        f"{BURST_EVENTS} events {BURST_PACE_MS} ms apart"
    )
    for r in reports:
        verdict.correct(f"{r.path}: events", r.burst)
        print(f"  {r.path}: first event {_ms_text(r.burst.ttfes)}")
        verdict.check(
            f"{r.path}: first event p99", _ms(r.burst.ttfes, 99), TARGET_BURST_P99_MS, "ms"
        )


def print_report(reports: list[PathReport], args: argparse.Namespace) -> bool:
    """Print every scenario against its targets; return True when all streams were right."""
    device = next((r.device for r in reports if r.device), "unknown")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\ntoken_rate: kernel device {device}; load average now {load}")
    verdict = Verdict()
    print_one(reports, verdict, args)
    print_many(reports, verdict, args)
    print_burst(reports, verdict, args)
    print()
    print("PASS" if not verdict.missed else f"FAIL: {'; '.join(verdict.missed)}")
    return not any(r.problems() for r in reports)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; --smoke sets small defaults."""
    parser = size_parser(__doc__, "32 streams x 25 events, bursts of 32 (seconds)", SIZES)
    parser.add_argument("--paths", default="thread,async", help="thread, async or both")
    parser.add_argument("--profile", help="py-spy the thread path's kernel into this file")
    parser.add_argument(
        "--profile-args",
        default="--gil --nonblocking --rate 100",
        help="more py-spy record options (default: %(default)s)",
    )
    parser.add_argument("--client", type=json.loads, help=argparse.SUPPRESS)
    args = parse_sizes(parser, SIZES, argv)
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not args.paths or set(args.paths) - set(PATHS):
        parser.error(f"--paths: one or both of {', '.join(PATHS)}")
    if args.profile and _profile.py_spy() is None:
        parser.error("--profile needs py-spy (pip install py-spy)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or a client process); return the exit code."""
    args = parse_args(argv)
    if args.client:
        return client_main(args.client)
    print(
        f"token-rate benchmark: paths {', '.join(args.paths)}, each in its own server and "
        f"kernel ({machine()})",
        flush=True,
    )

    def run(workdir: Path, stack: contextlib.ExitStack) -> list[PathReport]:
        reports = []
        for path in args.paths:
            folder = workdir / path
            folder.mkdir()
            with contextlib.ExitStack() as own:  # stop this path's server before the next
                reports.append(measure_path(path, folder, own, args))
        return reports

    reports = run_measured("token-rate-bench-", (ServerStartError, ProbeError), run)
    return 0 if print_report(reports, args) else 1


if __name__ == "__main__":
    sys.exit(main())
