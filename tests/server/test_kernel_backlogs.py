"""Past its credit a request's events wait in the kernel, bounded in bytes per request and
in all; reaching a bound pauses only the producer that would add, on a thread or a loop.

Clients that read nothing are raw sockets (tests/support/non_reader.py); the kernel's
backlogs are read from its outbox. Events are about 1 KB.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.kernels import NotebookKernel
from tests.support.models import ASYNC_PADDED, PADDED, Model
from tests.support.non_reader import NonReader, holds_still
from tests.support.server_config import server_config

MIB = 1024 * 1024
CREDIT_BYTES = 64 * 1024
REQUEST_BOUND = 512 * 1024
KERNEL_BOUND = 1 * MIB
EVENT_COST = 2000  # what one held event of ~1 KB costs, with room to spare
SIZE = 1000
PATH = "inferless/v2/models/m/generate_stream"
CASES: dict[str, tuple[Model, dict[str, Any]]] = {
    "sync": (PADDED, {}),  # infer on worker threads
    "asend": (ASYNC_PADDED, {"asend": True}),  # async infer, await asend
}
BACKLOGS = """
from jupyter_inferless.kernel.runtime import Runtime
_outbox = next(iter(Runtime.existing().links.values())).outbox
print(_outbox.backlog_held, *(f"{r}={c.backlog_bytes}" for r, c in _outbox.channels.items()))
"""


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """Small credit and bounds, so that they are reached within a test."""
    return server_config(
        credit_events=64,
        credit_bytes=CREDIT_BYTES,
        request_backlog_bytes=REQUEST_BOUND,
        kernel_backlog_bytes=KERNEL_BOUND,
    )


async def serve(kernel: NotebookKernel, api: Any, case: str, concurrency: int) -> Callable:
    """Serve the case's model as ``m``; return a reader of its count of produced events."""
    model, _ = CASES[case]
    await kernel.run(model.serve("m", max_concurrency=concurrency, queue_size=0))
    await api.wait_for_model("m")

    async def produced() -> int:
        return int(await kernel.run(f"print({model.name}.produced)"))

    return produced


async def backlogs(kernel: NotebookKernel) -> tuple[int, dict[str, int]]:
    """What the kernel's backlogs hold in all, and per open request."""
    held, *channels = (await kernel.run(BACKLOGS)).split()
    return int(held), {rid: int(size) for rid, _, size in (c.partition("=") for c in channels)}


async def stall(api: Any, case: str, count: int) -> list[NonReader]:
    """Start ``count`` requests of 100,000 events whose clients read nothing."""
    body = {"n": 100_000, "size": SIZE, **CASES[case][1]}
    return [await NonReader.open(api.url(PATH), api.auth, body) for _ in range(count)]


async def stream_fully(api: Any, n: int, extra: dict[str, Any]) -> None:
    """A request read to its end while the others stall: every event, in order."""
    result = await asyncio.wait_for(api.stream(PATH, {"n": n, "size": SIZE, **extra}), 90)
    assert result.status == 200
    assert [event.position for event in result.events] == list(range(n))
    assert "error" not in result.events[-1].json


@pytest.mark.parametrize("case", list(CASES))
async def test_a_request_past_its_byte_bound_pauses_only_its_producer(kernel, api, case):
    produced = await serve(kernel, api, case, concurrency=2)
    (stalled,) = await stall(api, case, 1)
    try:
        paused_at = await holds_still(produced)
        held, per_request = await backlogs(kernel)
        assert REQUEST_BOUND - EVENT_COST <= per_request[stalled.rid] < REQUEST_BOUND + EVENT_COST
        assert held == per_request[stalled.rid]
        await stream_fully(api, 3000, CASES[case][1])
        assert await produced() == paused_at + 3000, "the stalled producer stayed paused"
        assert (await backlogs(kernel))[0] == held
    finally:
        stalled.close()


@pytest.mark.parametrize("case", list(CASES))
async def test_the_kernel_bound_pauses_each_request_that_would_add(kernel, api, case):
    produced = await serve(kernel, api, case, concurrency=4)
    stalled = await stall(api, case, 3)  # three could hold 1.5 MiB; the kernel takes 1
    try:
        paused_at = await holds_still(produced)
        held, per_request = await backlogs(kernel)
        assert KERNEL_BOUND - EVENT_COST <= held < KERNEL_BOUND + EVENT_COST
        assert all(per_request[client.rid] < REQUEST_BOUND + EVENT_COST for client in stalled)
        await stream_fully(api, 3000, CASES[case][1])
        assert await produced() == paused_at + 3000, "the stalled producers stayed paused"
    finally:
        for client in stalled:
            client.close()


def resident(pid: int) -> int:
    """A process's resident memory in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_kernel_memory_stays_bounded_with_clients_that_read_nothing(kernel, api, report):
    clients = 20
    await kernel.run(ASYNC_PADDED.serve("m", max_concurrency=clients, queue_size=0))
    await api.wait_for_model("m")
    pid = int(await kernel.run("import os; print(os.getpid())"))
    await stream_fully(api, 50, {})  # warm up, within the credit
    before = resident(pid)
    limit = before + KERNEL_BOUND + clients * CREDIT_BYTES + 200 * MIB
    # Half await asend (paused at the bounds), half send_streamed_output from the loop
    # (cut at the bounds): before the bounds, each grew to 65,536 held events, ~70 MB.
    body = {"n": 100_000, "size": SIZE}
    stalled = [
        await NonReader.open(api.url(PATH), api.auth, {**body, "asend": i % 2 == 0})
        for i in range(clients)
    ]
    try:
        peak = before

        async def produced() -> int:  # sampling the kernel's memory as it goes
            nonlocal peak
            peak = max(peak, resident(pid))
            assert peak <= limit, f"kernel RSS {peak / MIB:.0f} MiB, over {limit / MIB:.0f}"
            return int(await kernel.run("print(AsyncPadded.produced)"))

        await holds_still(produced, still=2.0, timeout=90)  # the model stopped producing
        held, _ = await backlogs(kernel)
        assert held < KERNEL_BOUND + EVENT_COST
    finally:
        for client in stalled:
            client.close()
    report(
        f"kernel RSS with {clients} clients reading nothing (1 KB events): "
        f"{before / MIB:.0f} MiB before, {peak / MIB:.0f} MiB at most "
        f"(+{(peak - before) / MIB:.1f} MiB; kernel bound {KERNEL_BOUND / MIB:.0f} MiB)"
    )
