"""Requests over a bare socket, for what an HTTP client library hides: a body the server
should refuse before reading it, and the first bytes of a response as they arrive."""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

CHUNK = 1 << 20


@dataclass
class Sent:
    """What a body upload came to: the bytes of it sent (the server may not have read them
    all), and the answer (b"" when the server closed without one)."""

    sent: int
    answer: bytes
    seconds: float

    @property
    def status(self) -> int | None:
        """The answer's status code, if there was one."""
        parts = self.answer.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def head(url: str, method: str, headers: dict[str, str]) -> bytes:
    """A request's head for ``url``, with ``headers`` and ``Connection: close``."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def connect(url: str, timeout: float = 10.0) -> socket.socket:
    """A socket connected to ``url``'s host and port."""
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def upload(
    url: str,
    headers: dict[str, str],
    size: int,
    chunked: bool = False,
    head_wait: float = 0.0,
    wait: float = 10.0,
) -> Sent:
    """POST ``size`` bytes (or chunks of them) to ``url`` until the server answers or closes,
    after waiting up to ``head_wait`` s for an answer to the head alone; then read the answer
    for up to ``wait`` s."""
    started = time.monotonic()
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(size)}
    sock = connect(url, timeout=wait)
    sent, answer = 0, b""
    try:
        sock.sendall(head(url, "POST", {**headers, **framing}))
        select.select([sock], [], [], head_wait)
        piece = b"x" * CHUNK
        while sent < size and not select.select([sock], [], [], 0)[0]:  # no answer yet
            data = piece[: min(CHUNK, size - sent)]
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            except OSError:  # the server closed the connection
                break
            sent += len(data)
        sock.settimeout(wait)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:  # a reset after the answer, or no answer at all
            pass
    finally:
        sock.close()
    return Sent(sent, answer, time.monotonic() - started)


def read_until(sock: socket.socket, marker: bytes, timeout: float) -> tuple[bytes, float]:
    """Read until ``marker`` has arrived: what came, and the seconds it took (TimeoutError
    past ``timeout``)."""
    started = time.monotonic()
    sock.settimeout(timeout)
    received = b""
    while marker not in received:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}: {received[:300]!r}")
        received += chunk
    return received, time.monotonic() - started
