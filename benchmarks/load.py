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
import json
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from _cli import Size, machine, parse_sizes, run_measured, size_parser
from _servers import HOST, JupyterInferless, ServerStartError, describe, launch
from _shared import Event, counter_output
from _sse_client import ProtocolError, stream_sse
from jupyter_client.blocking.client import BlockingKernelClient

#: Every stream runs at once up to this many; more streams raise the model's concurrency.
CONCURRENCY = 64
WARM_EVENTS = 100
SAMPLE_INTERVAL = 0.020  # seconds between memory samples
PING_GAP = 0.010  # pause between two trivial cells
PING_TIMEOUT = 30.0  # a trivial cell not answered by then means a hung kernel
TARGET_CELL_MAX_MS = 100.0
MIB = 1024 * 1024
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

    def pids(self) -> dict[str, int]:
        """Process ids of the server and of its kernel."""
        if self.proc is None or self.kernel_id is None:
            raise ServerStartError(f"{self.name}: not running")
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if any(self.kernel_id in arg for arg in child.cmdline()):
                    return {"server": self.proc.pid, "kernel": child.pid}
        raise ServerStartError(f"{self.name}: kernel {self.kernel_id} process not found")


# --- streams -----------------------------------------------------------------------


class EventCheck:
    """Event sink that counts, instead of stopping at, every problem of one stream."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.received = 0
        self.seen = bytearray(n)
        self.duplicated = 0
        self.out_of_order = 0
        self.bad_data = 0
        self.unexpected = 0  # ids whose position is not an integer in 0..n-1
        self.errors: list[str] = []
        self._next = 0

    def __call__(self, events: list[Event]) -> None:
        """Check one batch of events."""
        for event_id, data in events:
            self.received += 1
            try:
                value = json.loads(data)
            except ValueError:
                value = None
            if isinstance(value, dict) and "error" in value:
                self.errors.append(f"error event: {data[:300].decode(errors='replace')}")
                continue
            try:
                k = int(event_id.rpartition(b":")[2])  # ids are "RID:k"
            except ValueError:
                k = -1
            if not 0 <= k < self.n:
                self.unexpected += 1
                continue
            if self.seen[k]:
                self.duplicated += 1
            self.seen[k] = 1
            if k != self._next:
                self.out_of_order += 1
            self._next = k + 1
            if value != counter_output(k):
                self.bad_data += 1

    @property
    def lost(self) -> int:
        """Ids in 0..n-1 that never arrived."""
        return self.n - sum(self.seen)

    def ok(self) -> bool:
        """Exactly n events, ids 0..n-1 in order, data matching."""
        return not (
            self.lost or self.duplicated or self.out_of_order or self.bad_data or self.unexpected
        ) and (not self.errors and self.received == self.n)


@dataclass
class StreamResult:
    """What one stream delivered."""

    check: EventCheck
    ttfe: float | None = None  # seconds from the request to the first event
    duration: float | None = None
    error: str | None = None

    def ok(self) -> bool:
        """True when the stream ended normally and all its events were right."""
        return self.error is None and self.check.ok()


async def one_stream(server: LoadServer, n: int, timeout: float) -> StreamResult:
    """Run one stream of ``n`` events, counting every problem."""
    result = StreamResult(EventCheck(n))
    body = json.dumps({"n": n}).encode()
    try:
        timing = await asyncio.wait_for(
            stream_sse(
                HOST, server.port, server.path, body, sink=result.check, headers=server.headers
            ),
            timeout,
        )
    except asyncio.TimeoutError:
        result.error = f"timed out after {timeout:.0f} s, {result.check.received} events received"
    except (ProtocolError, OSError) as err:
        result.error = f"{type(err).__name__}: {err}"
    else:
        result.ttfe = timing.first_event if timing.events else None
        result.duration = timing.total
    return result


async def run_streams(server: LoadServer, s: int, n: int) -> tuple[list[StreamResult], float]:
    """Open ``s`` streams of ``n`` events at once; return them and the wall time."""
    timeout = 60.0 + s * n / 2000
    start = time.perf_counter()
    results = await asyncio.gather(*(one_stream(server, n, timeout) for _ in range(s)))
    return list(results), time.perf_counter() - start


# --- the helper process: cell pings and memory samples --------------------------------


def ping(kc: BlockingKernelClient) -> float:
    """Execute ``1+1`` on the kernel's main shell; return the round trip in seconds."""
    start = time.perf_counter()
    msg_id = kc.execute("1+1", store_history=False, allow_stdin=False)
    deadline = start + PING_TIMEOUT
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError(f"a trivial cell got no execute_reply in {PING_TIMEOUT:.0f} s")
        try:
            msg = kc.get_shell_msg(timeout=left)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            break
    elapsed = time.perf_counter() - start
    if msg["content"].get("status") != "ok":
        raise RuntimeError(f"trivial cell failed: {msg['content']}")
    return elapsed


def wait_kernel(kc: BlockingKernelClient, timeout: float = 60.0) -> None:
    """Block until the kernel answers kernel_info on the shell channel."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg_id = kc.kernel_info()
        with contextlib.suppress(queue.Empty):
            while True:
                msg = kc.get_shell_msg(timeout=1.0)
                if msg["parent_header"].get("msg_id") == msg_id:
                    return
    raise TimeoutError(f"kernel did not answer kernel_info in {timeout:.0f} s")


def rss(procs: dict[str, psutil.Process]) -> dict[str, int]:
    """Resident set size of each process, in bytes."""
    return {name: proc.memory_info().rss for name, proc in procs.items()}


def cpu(procs: dict[str, psutil.Process]) -> dict[str, float]:
    """CPU seconds (user + system) each process has used so far."""
    return {name: sum(proc.cpu_times()[:2]) for name, proc in procs.items()}


class Background:
    """While the streams run: ping the kernel, and sample memory every 20 ms."""

    def __init__(self, kc: BlockingKernelClient, procs: dict[str, psutil.Process]) -> None:
        self.kc = kc
        self.procs = procs
        self.pings: list[tuple[float, float]] = []  # (monotonic start, round trip)
        self.samples: list[tuple[float, dict[str, int]]] = []  # (monotonic time, RSS)
        self.error: str | None = None
        self._cpu = cpu(procs)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._guard, args=(self._ping_loop,), daemon=True),
            threading.Thread(target=self._guard, args=(self._sample_loop,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _guard(self, loop: Any) -> None:
        try:
            loop()
        except Exception as err:
            self.error = f"{type(err).__name__}: {err}"
            self._stop.set()

    def _ping_loop(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            self.pings.append((start, ping(self.kc)))
            self._stop.wait(PING_GAP)

    def _sample_loop(self) -> None:
        due = time.monotonic()
        while True:
            self.samples.append((time.monotonic(), rss(self.procs)))
            due += SAMPLE_INTERVAL
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return

    def stop(self, end: float = float("inf")) -> dict[str, Any]:
        """Stop both loops; return what they measured up to ``end`` (a monotonic time).

        A cell started before ``end`` counts, even if its reply came after it.
        """
        used = cpu(self.procs)
        self._stop.set()
        for thread in self._threads:
            thread.join()
        samples = [values for t, values in self.samples if t <= end] or [self.samples[0][1]]
        return {
            "latencies": [latency for t, latency in self.pings if t < end],
            "peak": {name: max(s[name] for s in samples) for name in self.procs},
            "samples": len(samples),
            "cpu": {name: used[name] - self._cpu[name] for name in self.procs},
            "error": self.error,
        }


def _reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def probe_main(connection_file: str, pids: dict[str, int]) -> int:
    """The helper process: answer one JSON line per command read from stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the benchmark process stops us
    kc = BlockingKernelClient(connection_file=connection_file)
    kc.load_connection_file()
    kc.start_channels(iopub=False, stdin=False, hb=False, control=False)
    background: Background | None = None
    try:
        procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        wait_kernel(kc)
        _reply({"ready": True})
        for line in sys.stdin:
            command, *arg = line.split()
            if command == "ping":
                _reply({"latencies": [ping(kc) for _ in range(int(arg[0]))]})
            elif command == "rss":
                samples = []
                for _ in range(5):
                    samples.append(rss(procs))
                    time.sleep(SAMPLE_INTERVAL)
                _reply({k: statistics.median(s[k] for s in samples) for k in procs})
            elif command == "load":
                background = Background(kc, procs)
                _reply({"started": True})
            elif command == "stop" and background is not None:
                result = background.stop(float(arg[0]))
                background = None
                if result["error"]:
                    raise RuntimeError(result["error"])
                _reply(result)
            else:
                raise ValueError(f"unknown command {line!r}")
    except Exception as err:
        _reply({"error": f"{type(err).__name__}: {err}"})
        return 1
    finally:
        if background is not None:
            background.stop()
        kc.stop_channels()
    return 0


class ProbeError(RuntimeError):
    """The helper process failed or did not answer."""


class Probe:
    """The benchmark's end of the helper process."""

    def __init__(self, connection_file: Path, pids: dict[str, int], log: Path) -> None:
        self.log = log
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable, __file__, "--probe", str(connection_file),
                    "--pids", json.dumps(pids),
                ],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
            )  # fmt: skip
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put("")

    def receive(self, timeout: float) -> dict[str, Any]:
        """The helper's next answer; ProbeError if it failed or is silent."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise ProbeError(f"helper process did not answer in {timeout:.0f} s") from None
        if not line:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise ProbeError(f"helper process exited\n{tail}")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("error"):
            raise ProbeError(f"helper process: {answer['error']}")
        return answer

    def call(self, command: str, timeout: float = PING_TIMEOUT + 30) -> dict[str, Any]:
        """Send one command and return its answer."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except OSError as err:
            raise ProbeError(f"helper process: {err}") from None
        return self.receive(timeout)

    def close(self) -> None:
        """Close its stdin (it exits), then terminate or kill it if it lingers."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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
        f"idle: {len(report.idle_cells)} trivial cells, {_ms_stats(report.idle_cells)}; "
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


def summarise(result: StreamResult) -> str:
    """One line on what went wrong with a stream."""
    c = result.check
    parts = [f"{c.received}/{c.n} events"]
    for label, count in [
        ("lost", c.lost),
        ("duplicated", c.duplicated),
        ("out of order", c.out_of_order),
        ("bad data", c.bad_data),
        ("unexpected ids", c.unexpected),
    ]:
        if count:
            parts.append(f"{count} {label}")
    parts += c.errors[:2]
    if result.error:
        parts.append(result.error)
    return ", ".join(parts)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile, interpolating between the closest ranks."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _ms_stats(values: Sequence[float]) -> str:
    if not values:
        return "none"
    return (
        f"median {statistics.median(values) * 1e3:.1f} ms, "
        f"p95 {percentile(values, 95) * 1e3:.1f} ms, max {max(values) * 1e3:.1f} ms"
    )


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
        f"load: trivial cell latency during load: {len(cells)} cells, {_ms_stats(cells)} "
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
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # run as the helper process
    parser.add_argument("--pids", type=json.loads, help=argparse.SUPPRESS)
    return parse_sizes(parser, SIZES, argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or the helper process); return the exit code."""
    args = parse_args(argv)
    if args.probe:
        return probe_main(args.probe, args.pids)
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
