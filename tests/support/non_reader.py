"""Clients that stop reading: a raw socket that reads the response head and then nothing,
with a small receive buffer; and a wait for a count (a model's events) to hold still."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from tests.support.sse_reader import raw_post
from tests.support.waiting import until

RECEIVE_BUFFER = 4096


class NonReader:
    """A POST whose response head is read, then nothing more, until ``close``."""

    def __init__(self, sock: socket.socket, status: str, headers: dict[str, str]) -> None:
        self.sock = sock
        self.status = status
        self.headers = headers
        self.body = b""  # what was read of the body: what came with the head, or read()

    async def read(self, size: int = 16384, timeout: float = 30.0) -> bytes:
        """Read once (up to ``size`` bytes); b"" once the server closed the connection."""
        loop = asyncio.get_running_loop()
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(self.sock, size), timeout)
        except ConnectionResetError:
            return b""
        self.body += chunk
        return chunk

    async def read_to_close(self, pause: float = 0.0, timeout: float = 60.0) -> None:
        """Read until the server closes the connection, ``pause`` s between two reads."""
        deadline = time.monotonic() + timeout
        while await self.read(timeout=max(deadline - time.monotonic(), 0.01)):
            await asyncio.sleep(pause)

    @property
    def rid(self) -> str:
        """The request id of the stream the server started."""
        return self.headers["x-request-id"]

    @classmethod
    async def open(
        cls,
        url: str,
        auth: dict[str, str],
        body: Any,
        timeout: float = 60.0,
        version: str = "HTTP/1.1",
        receive_buffer: int = RECEIVE_BUFFER,
    ) -> NonReader:
        """Send the request and read up to the end of the response head (its first bytes
        of body, kept in ``body``, may come along); raises unless the status is 200."""
        parts = urlsplit(url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (parts.hostname, parts.port))
        await loop.sock_sendall(sock, raw_post(url, auth, body, version))
        received = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in received:
            remaining = deadline - time.monotonic()
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 1024), max(remaining, 0.01))
            if not chunk:
                raise AssertionError(f"the server closed before the head: {received!r}")
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        status, *lines = head.decode().split("\r\n")
        if " 200 " not in status:
            sock.close()
            raise AssertionError(status)
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        client = cls(sock, status, headers)
        client.body = rest
        return client

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


async def holds_still(
    count: Callable[[], Awaitable[int]], still: float = 1.0, timeout: float = 60.0
) -> int:
    """Poll ``count`` until it did not change for ``still`` seconds; return it.

    A window of quiet, not an event: for a producer whose pause nothing reports.
    """
    last, since = await count(), time.monotonic()

    async def quiet() -> bool:
        nonlocal last, since
        now = await count()
        if now != last:
            last, since = now, time.monotonic()
        return time.monotonic() - since >= still

    await until(quiet, f"the count holding still for {still} s", timeout, poll=0.2)
    return last
