"""A loopback TCP proxy that cuts a real connection mid-response, to test resuming clients."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

TERMINATING_CHUNK = b"0\r\n\r\n"
REQUEST_LINE = re.compile(rb"([A-Z]+) (\S+) HTTP/1\.[01]\r\n")
LAST_EVENT_ID = re.compile(rb"\r\nLast-Event-ID: *([^\r\n]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Request:
    """A request the proxy forwarded: the connection it came on (1, 2, ...), its method,
    path and Last-Event-ID header (None without one)."""

    connection: int
    method: str
    path: str
    last_event_id: str | None


@dataclass(eq=False)
class CuttingProxy:
    """Forwards 127.0.0.1:``port`` to the server at ``target_port``.

    The first connection whose request contains ``match`` is cut (both sides closed, or
    reset when ``reset``) after ``cut_after`` response bytes, or, with ``cut_at_end``,
    just before the chunked body's terminating chunk. Later connections pass through;
    with ``hold_after_cut`` they wait until ``release()``. ``matched_requests`` counts the
    requests (on any connection) that contained ``match``; ``requests`` records every
    request forwarded.
    """

    target_port: int
    cut_after: int | None = None
    cut_at_end: bool = False
    reset: bool = False
    hold_after_cut: bool = False
    match: bytes = b"generate_stream"

    def __post_init__(self) -> None:
        self.port = self.connections = self.matched_requests = self.held = 0
        self.requests: list[Request] = []
        self.cuts: list[float] = []  # when each cut was made
        self.connected_at: list[float] = []  # when each connection reached the server
        self._armed = False
        self._gate = asyncio.Event()
        self._gate.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> CuttingProxy:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, base_path: str) -> str:
        """The proxy's URL for a server base path such as ``/a%40b/``."""
        return f"http://127.0.0.1:{self.port}{base_path}"

    def release(self) -> None:
        """Let held connections through."""
        self._gate.set()

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.add(client_w)
        if not self._gate.is_set():
            self.held += 1
            await self._gate.wait()
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers.add(server_w)
        self.connections += 1
        self.connected_at.append(time.monotonic())
        cut_here: list[bool] = []
        pipes = [
            asyncio.ensure_future(self._upstream(client_r, server_w, cut_here, self.connections)),
            asyncio.ensure_future(self._downstream(server_r, client_w, cut_here)),
        ]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            for writer in (client_w, server_w):
                self._close(writer, abort=self.reset and bool(cut_here))

    async def _upstream(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        cut_here: list[bool],
        connection: int,
    ) -> None:
        while data := await reader.read(65536):
            self._record(data, connection)
            self.matched_requests += data.count(self.match)
            if self.match in data and not self.cuts and not self._armed:
                self._armed = True
                cut_here.append(True)
            writer.write(data)
            await writer.drain()

    async def _downstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cut_here: list[bool]
    ) -> None:
        sent = 0
        while data := await reader.read(65536):
            keep = self._keep(data, sent) if cut_here else len(data)
            writer.write(data[:keep])
            await writer.drain()
            if cut_here:  # count from the matching request on (keep-alive may come first)
                sent += keep
            if keep < len(data):
                self.cuts.append(time.monotonic())
                if self.hold_after_cut:
                    self._gate.clear()
                return

    def _record(self, data: bytes, connection: int) -> None:
        """Note the requests whose heads start in ``data``."""
        for line in REQUEST_LINE.finditer(data):
            start = line.end() - 2  # from the request line's CRLF: each header follows one
            end = data.find(b"\r\n\r\n", start)
            last = LAST_EVENT_ID.search(data[start : end + 2 if end >= 0 else len(data)])
            method, path = line.group(1).decode(), line.group(2).decode()
            self.requests.append(
                Request(connection, method, path, last.group(1).decode() if last else None)
            )

    def _keep(self, data: bytes, sent: int) -> int:
        """How many bytes of ``data`` to forward before cutting (all of it: no cut)."""
        if self.cut_after is not None and sent + len(data) > self.cut_after:
            return self.cut_after - sent
        if self.cut_at_end and data.endswith(TERMINATING_CHUNK):
            return len(data) - len(TERMINATING_CHUNK)
        return len(data)

    def _close(self, writer: asyncio.StreamWriter, abort: bool) -> None:
        self._writers.discard(writer)
        with contextlib.suppress(Exception):
            if abort:
                writer.transport.abort()
            else:
                writer.close()


async def _cancel_tasks() -> None:
    """Cancel and await every other task of the running loop."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.contextmanager
def proxy_in_thread(target_port: int, **options: Any) -> Iterator[CuttingProxy]:
    """A CuttingProxy running on its own event loop in a background thread.

    For tests whose main thread belongs to a synchronous client (Playwright, a subprocess).
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="cutting-proxy", daemon=True)
    thread.start()
    proxy = CuttingProxy(target_port, **options)
    try:
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
        yield proxy
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(10)
        with contextlib.suppress(Exception):  # no connection task may outlive its loop
            asyncio.run_coroutine_threadsafe(_cancel_tasks(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
