"""Kernel faults end open streams in-band, never with a hang."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from tests.support.models import PACED, Model, paced_outputs
from tests.support.server_state import streams_running
from tests.support.waiting import until

SLOW = {"n": 1000, "pause_ms": 50}  # Paced's run, of 50 s


async def _stream_then(api, serverapp, fault) -> Any:
    """Start the slow run, fault once its events flow, and read the stream to its end."""
    reader = asyncio.ensure_future(api.stream("inferless/v2/models/slow/generate_stream", SLOW))
    await streams_running(serverapp)
    await fault()
    return await asyncio.wait_for(reader, 30)


async def _restarted(km, timeout: float = 30.0) -> None:
    """Wait until the server's automatic restart of a killed kernel is done."""

    async def alive() -> bool:
        return km.ready.done() and await km.is_alive()

    await until(alive, "the killed kernel restarted", timeout)


async def test_kill_9_of_the_kernel_ends_the_stream_in_band(kernel, api, jp_serverapp):
    await kernel.run(PACED.serve("slow"))
    await api.wait_for_model("slow")
    km = jp_serverapp.kernel_manager.get_kernel(kernel.kernel_id)

    async def kill() -> None:
        os.kill(km.provisioner.pid, signal.SIGKILL)

    result = await _stream_then(api, jp_serverapp, kill)
    assert result.status == 200
    assert result.events[0].json == paced_outputs(1)[0]
    assert "KernelGone" in result.events[-1].json["error"]
    assert result.events[-1].json["kind"] == "kernel_gone"
    await api.wait_for_model("slow", present=False)
    await _restarted(km)


async def test_restarting_the_kernel_ends_the_stream_and_forgets_the_models(
    kernel, api, jp_serverapp
):
    await kernel.run(PACED.serve("slow"))
    await api.wait_for_model("slow")

    async def restart() -> None:
        await jp_serverapp.kernel_manager.restart_kernel(kernel.kernel_id)

    result = await _stream_then(api, jp_serverapp, restart)
    assert "KernelGone" in result.events[-1].json["error"]
    assert result.events[-1].json["kind"] == "kernel_gone"
    _, body = await api.call("inferless/api/models")
    assert body["models"] == []


TIDY = Model(
    "Tidy",
    PACED.source
    + """
    class Tidy(Paced):
        def finalize(self):
            with open(MARKER, "w") as marker:
                marker.write("finalized")
    """,
    PACED.schema,
)


async def test_server_shutdown_ends_streams_in_band_and_finalizes(
    kernel, api, jp_serverapp, tmp_path
):
    marker = tmp_path / "finalized.txt"
    await kernel.run(f"MARKER = {str(marker)!r}\n" + TIDY.serve("tidy"))
    await api.wait_for_model("tidy")
    run = {"n": 10_000, "pause_ms": 10}
    reader = asyncio.ensure_future(api.stream("inferless/v2/models/tidy/generate_stream", run))
    await streams_running(jp_serverapp)
    kernel.client.stop_channels()
    await jp_serverapp._cleanup()  # what the server runs when it stops
    result = await asyncio.wait_for(reader, 10)
    assert result.events[-1].json == {
        "error": "ServerShutdown: the server is shutting down",
        "kind": "server_shutdown",
        "type": "ServerShutdown",
    }
    await until(marker.exists, "the model finalized", 10)
    assert marker.read_text() == "finalized"
