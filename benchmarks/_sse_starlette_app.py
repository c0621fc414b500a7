"""Comparison SSE server: sse-starlette's EventSourceResponse, run under uvicorn.

Run as ``python -m uvicorn _sse_starlette_app:app --host 127.0.0.1 --port P``;
serves ``POST /v2/models/counter/generate_stream`` with a JSON body ``{"n": N}``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

STREAM_PATH = "/v2/models/counter/generate_stream"


async def _events(n: int) -> AsyncIterator[ServerSentEvent]:
    for k in range(n):
        yield ServerSentEvent(data=json.dumps({"OUT": "tok", "i": k}), id=str(k))


async def generate_stream(request: Request) -> Response:
    """Stream ``n`` events ``{"OUT": "tok", "i": k}`` with ids 0..n-1."""
    try:
        n = int((await request.json())["n"])
    except (ValueError, KeyError, TypeError) as err:
        return JSONResponse({"error": f"bad body: {err}"}, status_code=400)
    return EventSourceResponse(_events(n))


app = Starlette(routes=[Route(STREAM_PATH, generate_stream, methods=["POST"])])
