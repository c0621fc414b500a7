"""What a test server's extension holds, read in the server's own process: its service, and
a wait for its streams to have received events (a stream is running, not merely asked for).
"""

from __future__ import annotations

from typing import Any

from tests.support.waiting import until


def service_of(serverapp: Any) -> Any:
    """The extension's ``Service`` in ``serverapp``."""
    return serverapp.web_app.settings["inferless_service"]


async def streams_running(
    serverapp: Any,
    count: int = 1,
    events: int = 1,
    model: str | None = None,
    timeout: float = 30.0,
) -> list[Any]:
    """Wait until ``count`` streams of the server's broker (of ``model``, if given) have
    received at least ``events`` events each; return those streams."""

    def received() -> list[Any]:
        streams = [
            stream
            for stream in service_of(serverapp).broker.streams.values()
            if stream.total >= events and model in (None, stream.model)
        ]
        return streams if len(streams) >= count else []

    what = f"{count} stream(s) of {model or 'any model'} with {events} event(s) or more"
    return await until(received, what, timeout)
