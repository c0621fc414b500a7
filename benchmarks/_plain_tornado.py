"""Baseline SSE server: a minimal Tornado app that flushes after every event.

Run as ``python _plain_tornado.py --port P``; serves
``POST /v2/models/counter/generate_stream`` with a JSON body ``{"n": N}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from tornado.httpserver import HTTPServer
from tornado.web import Application, HTTPError, RequestHandler

STREAM_PATH = "/v2/models/counter/generate_stream"


class StreamHandler(RequestHandler):
    """Stream ``n`` events ``{"OUT": "tok", "i": k}`` with ids 0..n-1."""

    async def post(self) -> None:
        """Write and flush one SSE event per output."""
        try:
            n = int(json.loads(self.request.body)["n"])
        except (ValueError, KeyError, TypeError) as err:
            raise HTTPError(400, f"bad body: {err}") from err
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            stream.set_nodelay(True)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        for k in range(n):
            payload = json.dumps({"OUT": "tok", "i": k})
            self.write(f"id: {k}\ndata: {payload}\n\n")
            await self.flush()


async def serve(port: int) -> None:
    """Listen on 127.0.0.1:port until killed."""
    server = HTTPServer(Application([(STREAM_PATH, StreamHandler)]))
    server.listen(port, address="127.0.0.1")
    await asyncio.Event().wait()


def main() -> None:
    """Parse the port and serve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
