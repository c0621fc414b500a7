"""LitServe serving vs_litserve.py's model, run with the LitServe venv's python
(requirements/litserve.in; scripts/test.sh makes it and exports LITSERVE_PYTHON).

    python benchmarks/_litserve_app.py --port P [--fast-queue]

It serves the model two ways, as the jupyter_inferless kernel of vs_litserve.py does:

- ``POST /v2/models/ticks/generate_stream``: a sync ``predict`` (a generator, ``time.sleep``
  between events), in LitServe's streaming loop, which runs one request at a time in its
  worker process;
- ``POST /v2/models/aticks/generate_stream``: an async ``predict`` (an async generator,
  ``await asyncio.sleep``) with ``enable_async=True``, many requests at once as tasks of the
  worker's event loop.

The body is ``{"n": N, "pause_ms": P}``. Event i is ``id: i`` and ``data: JSON``: without a
pause, ``{"OUT": "tok", "i": i}`` (tests/support/models.py's Counter's); with one, event i is
due ``i * P`` ms after the model's start, is sent then (or as soon after as the model gets to
run), and carries ``"t"``, that due time (``time.time()``), as the kernel's models do
(_litserve_servers.py). LitServe gives a stream no content type, so a small ASGI middleware
names it ``text/event-stream``. One worker per model, one API server process, LitServe's
defaults otherwise; ``--fast-queue`` is its ZeroMQ transport. It listens on 127.0.0.1 only.
"""

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import litserve as ls

HOST = "127.0.0.1"
SYNC_PATH = "/v2/models/ticks/generate_stream"
ASYNC_PATH = "/v2/models/aticks/generate_stream"
Message = dict[str, Any]


def _pause(inputs: dict[str, Any]) -> tuple[int, float]:
    return int(inputs["n"]), float(inputs.get("pause_ms", 0)) / 1000


class Ticks(ls.LitAPI):
    """The sync model: n events, each at its due time."""

    def predict(self, x: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Yield the n events, sleeping until each is due."""
        n, pause = _pause(x)
        if pause <= 0:
            for i in range(n):
                yield {"OUT": "tok", "i": i}
            return
        start = time.time()
        for i in range(n):
            due = start + i * pause
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            yield {"OUT": "tok", "i": i, "t": due}

    def encode_response(self, output: Iterator[dict[str, Any]]):
        """Each output as one SSE event, id i (no annotation on what this returns, nor on
        decode_request's request: LitServe reads them as the endpoint's types)."""
        for i, item in enumerate(output):
            yield f"id: {i}\ndata: {json.dumps(item)}\n\n"


class AsyncTicks(ls.LitAPI):
    """The async model: the same events, awaiting until each is due."""

    async def decode_request(self, request):
        """The body, as the default decode_request gives it."""
        return request

    async def predict(self, x: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Yield the n events, awaiting until each is due."""
        n, pause = _pause(x)
        if pause <= 0:
            for i in range(n):
                yield {"OUT": "tok", "i": i}
            return
        start = time.time()
        for i in range(n):
            due = start + i * pause
            wait = due - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            yield {"OUT": "tok", "i": i, "t": due}

    async def encode_response(self, output: AsyncIterator[dict[str, Any]]):
        """Each output as one SSE event, id i."""
        i = 0
        async for item in output:
            yield f"id: {i}\ndata: {json.dumps(item)}\n\n"
            i += 1


class EventStreamType:
    """ASGI middleware: a stream's response without a content type gets text/event-stream."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(
        self, scope: Message, receive: Callable[[], Awaitable[Message]], send: Any
    ) -> None:
        """Pass the request on; name the type of a stream's response as it starts."""
        if scope["type"] != "http" or scope["path"] not in (SYNC_PATH, ASYNC_PATH):
            await self.app(scope, receive, send)
            return

        async def typed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"content-type" for name, _ in headers):
                    headers.append((b"content-type", b"text/event-stream"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, typed)


def main() -> None:
    """Serve both models until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fast-queue", action="store_true", help="LitServe's ZeroMQ transport")
    args = parser.parse_args()
    apis = [
        Ticks(api_path=SYNC_PATH, stream=True),
        AsyncTicks(api_path=ASYNC_PATH, stream=True, enable_async=True),
    ]
    server = ls.LitServer(
        apis,
        accelerator="cpu",
        workers_per_device=1,
        fast_queue=args.fast_queue,
        middlewares=[EventStreamType],
    )
    server.run(
        host=HOST,
        port=args.port,
        num_api_servers=1,
        generate_client_file=False,
        log_level="warning",
    )


if __name__ == "__main__":  # LitServe's workers are spawned: they import this module again
    main()
