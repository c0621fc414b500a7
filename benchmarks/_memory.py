"""What the memory benchmarks share: a process's RSS sampled for its peak, and runs whose
clients hang up as soon as the headers are in."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time

import psutil
from _servers import HOST, JupyterInferless
from _sse_client import ProtocolError, build_request

SAMPLE_INTERVAL = 0.05
MIB = 1024 * 1024


class RssSampler:
    """Samples a process's RSS in a thread; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        """The RSS now, in bytes."""
        return int(self.process.memory_info().rss)

    def __enter__(self) -> RssSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.rss())


async def drop_after_headers(server: JupyterInferless, body: bytes) -> None:
    """POST a stream and hang up as soon as the response's headers are in (200 expected)."""
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        writer.write(build_request(HOST, server.port, server.path, body, server.headers))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
    finally:
        writer.close()
    if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
        raise ProtocolError(f"a dropped run was answered {head[:40]!r}")


def until_idle(server: JupyterInferless, timeout: float = 600.0) -> None:
    """Wait until the server's model has no request running or queued."""
    deadline = time.monotonic() + timeout
    with server.client() as http:
        while True:
            listed = http.get("/inferless/api/models").json()["models"]
            if not any(model["counters"]["active"] for model in listed):
                return
            if time.monotonic() > deadline:
                raise ProtocolError(f"requests still active after {timeout:.0f} s")
            time.sleep(0.2)


def drop_runs(server: JupyterInferless, runs: int, body: dict[str, int]) -> None:
    """Start ``runs`` runs at once whose clients all hang up after the headers; wait until
    every one has ended."""
    data = json.dumps(body).encode()

    async def drop_all() -> None:
        await asyncio.gather(*(drop_after_headers(server, data) for _ in range(runs)))

    asyncio.run(drop_all())
    until_idle(server)


def dropped_growth(
    server: JupyterInferless, runs: int, body: dict[str, int], batches: int, idle: int
) -> tuple[list[float], float]:
    """``batches`` times, ``runs`` runs whose clients hang up after the headers: how much the
    server grew over its ``idle`` RSS, in MiB, after each batch and at its peak."""
    assert server.proc is not None
    grew = []
    with RssSampler(server.proc.pid) as sampler:
        for _ in range(batches):
            drop_runs(server, runs, body)
            time.sleep(0.5)
            grew.append((sampler.rss() - idle) / MIB)
    return grew, (sampler.peak - idle) / MIB
