"""The helper process the load benchmarks run beside their streams, and its statistics.

The helper (this script, run by ``Probe``) has its own GIL, so the benchmark's client does
not slow it down. On command it executes a trivial cell (``1+1``) on the kernel's main
shell through a ``jupyter_client`` client on the kernel's connection file, timing each
``execute_request`` -> ``execute_reply``; it reads the RSS of the server and of the kernel;
and, during a load, it does both at once: a cell every 10 ms, an RSS sample every 20 ms,
and the CPU seconds each process used.

    python benchmarks/_probe.py CONNECTION_FILE --pids '{"server": PID, "kernel": PID}'

It answers one JSON line per command read from stdin: ``ping N``, ``rss``, ``load``,
``stop END`` (END a ``time.monotonic()`` value: later cells and samples are not counted).
"""

from __future__ import annotations

import argparse
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
from pathlib import Path
from typing import Any

import psutil
from jupyter_client.blocking.client import BlockingKernelClient

SAMPLE_INTERVAL = 0.020  # seconds between memory samples
PING_GAP = 0.010  # pause between two trivial cells
PING_TIMEOUT = 30.0  # a trivial cell not answered by then means a hung kernel
MIB = 1024 * 1024


# --- statistics ----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile, interpolating between the closest ranks."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ms_stats(values: Sequence[float]) -> str:
    """Median, 95th percentile and max of durations in seconds, in milliseconds."""
    if not values:
        return "none"
    return (
        f"median {statistics.median(values) * 1e3:.1f} ms, "
        f"p95 {percentile(values, 95) * 1e3:.1f} ms, max {max(values) * 1e3:.1f} ms"
    )


# --- the helper process ----------------------------------------------------------------


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
    """During a load: ping the kernel, and sample memory every 20 ms."""

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


def _idle_rss(procs: dict[str, psutil.Process]) -> dict[str, float]:
    samples = []
    for _ in range(5):
        samples.append(rss(procs))
        time.sleep(SAMPLE_INTERVAL)
    return {k: statistics.median(s[k] for s in samples) for k in procs}


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
                _reply(_idle_rss(procs))
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


# --- the benchmark's end ----------------------------------------------------------------


class ProbeError(RuntimeError):
    """The helper process failed or did not answer."""


class Probe:
    """The benchmark's end of the helper process."""

    def __init__(self, connection_file: Path, pids: dict[str, int], log: Path) -> None:
        self.log = log
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, str(connection_file), "--pids", json.dumps(pids)],
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the helper process."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("connection_file")
    parser.add_argument("--pids", type=json.loads, required=True)
    args = parser.parse_args(argv)
    return probe_main(args.connection_file, args.pids)


if __name__ == "__main__":
    sys.exit(main())
