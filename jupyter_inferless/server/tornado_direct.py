"""An event stream's body written straight to the connection, on the tornado versions tested.

The one module that reads tornado's private attributes. ``RequestHandler.write`` and
``flush`` cost, per write, a buffer join, the output transforms and a future of the HTTP
layer. Once the response head is out, an event stream's body can go straight to the
connection's IOStream instead (framed as a chunk when the response is chunked), in the
same bytes (tests/server/test_tornado_direct.py). Measured with
``benchmarks/sse_throughput.py --servers jupyter,jupyter-public`` (one stream of 20,000
events, 10 runs on a busy 2-core machine): direct / public events/s 0.93x to 1.13x, median
0.97x, so no gain that one stream shows (its events leave in a few dozen writes); the
path was added for hundreds of concurrent streams, each writing often.

That relies on ``RequestHandler._headers_written``, ``._headers`` and ``._transforms`` and
on ``HTTP1Connection.stream``, so it is used only where ``TESTED`` lists the installed
tornado's minor version, and only when the caller asks (``c.Service.direct_writes``).
Otherwise every byte goes through ``write`` and ``flush``, and an event stream keeps the
application's output transforms: with ``compress_response`` on, a client that accepts
gzip gets it gzipped (each flush is a gzip sync flush, so events still arrive one by one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import tornado
from tornado.iostream import IOStream
from tornado.web import RequestHandler

TESTED: Final = frozenset({(6, 5), (6, 6)})
"""The tornado (major, minor) versions the direct path was tested with (6.5.10 and 6.6.1)."""


def is_tested(version: Sequence[int]) -> bool:
    """Whether a tornado ``version_info`` has a minor version listed in ``TESTED``."""
    return tuple(version[:2]) in TESTED


ON_TESTED_TORNADO: Final = is_tested(tornado.version_info)
"""Whether the installed tornado is a tested one (checked once, at import)."""


def without_compression(handler: RequestHandler, *, direct: bool) -> None:
    """Never compress this response (call before its first flush): with ``direct`` on a
    tested tornado, by dropping its output transforms; otherwise nothing is changed."""
    if direct and ON_TESTED_TORNADO:
        handler._transforms = []


def event_sender(handler: RequestHandler, *, direct: bool) -> Callable[[bytes], Awaitable[None]]:
    """A function that sends body bytes and returns what resolves once they are written.

    Call it once the head is flushed. With ``direct`` on a tested tornado, over HTTP/1 on
    a socket, it writes to the connection's IOStream, in order with what the handler
    writes later; otherwise it is ``handler.write`` then ``handler.flush``.
    """
    iostream = connection_stream(handler)
    if not (direct and ON_TESTED_TORNADO and iostream is not None and handler._headers_written):
        return lambda data: _write_and_flush(handler, data)
    chunked = handler._headers.get("Transfer-Encoding", "").lower() == "chunked"
    if not chunked:
        return iostream.write

    def send_chunk(data: bytes) -> Awaitable[None]:
        # an empty chunk would end the body: like HTTP1Connection, write nothing for it
        return iostream.write(b"%x\r\n%s\r\n" % (len(data), data) if data else b"")

    return send_chunk


def connection_stream(handler: RequestHandler) -> IOStream | None:
    """The IOStream of the handler's HTTP/1 connection; None for any other connection."""
    stream = getattr(handler.request.connection, "stream", None)
    return stream if isinstance(stream, IOStream) else None


def _write_and_flush(handler: RequestHandler, data: bytes) -> Awaitable[None]:
    handler.write(data)
    return handler.flush()
