"""The model list is pushed over SSE as models come and go."""

from __future__ import annotations

import asyncio
import time

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests.support.sse_reader import EventLog

MODEL = """
class Hello:
    def infer(self, inputs):
        return {"OUT": "hi"}
"""


async def test_models_are_pushed_when_served_and_stopped(kernel, api):
    log = EventLog()
    request = HTTPRequest(
        api.url("inferless/api/models/events"),
        headers=api.auth,
        streaming_callback=log.feed,
        request_timeout=30,
    )
    client = AsyncHTTPClient(force_instance=True)
    fetch = asyncio.ensure_future(client.fetch(request, raise_error=False))

    async def names_after(count: int) -> tuple[list[str], float]:
        started = time.monotonic()
        while len(log.events) < count and time.monotonic() - started < 5:
            await asyncio.sleep(0.02)
        models = log.events[-1].json["models"]
        return [m["name"] for m in models], time.monotonic() - started

    try:
        assert (await names_after(1))[0] == []
        await kernel.run(MODEL + "%inferless serve Hello")
        names, took = await names_after(2)
        assert names == ["Hello"]
        assert took < 2.0
        await kernel.run("%inferless stop Hello")
        assert (await names_after(3))[0] == []
    finally:
        client.close()
        await asyncio.wait([fetch], timeout=5)
