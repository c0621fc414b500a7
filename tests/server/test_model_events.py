"""The model list is pushed over SSE as models come and go."""

from __future__ import annotations

import asyncio

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests.support.sse_reader import EventLog
from tests.support.waiting import until

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

    async def names_after(count: int) -> list[str]:
        await until(lambda: len(log.events) >= count, f"model list event {count}", 10)
        return [m["name"] for m in log.events[-1].json["models"]]

    try:
        assert await names_after(1) == []
        await kernel.run(MODEL + "%inferless serve Hello")
        assert await names_after(2) == ["Hello"]
        await kernel.run("%inferless stop Hello")
        assert await names_after(3) == []
    finally:
        client.close()
        await asyncio.wait([fetch], timeout=5)
