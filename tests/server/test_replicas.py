"""A name served by several kernels is one model with replicas: listed once, requests to
the least loaded, 429 only when all are full, a different schema refused, a killed
replica's streams ended in-band while the others serve."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.kernels import NotebookKernel, start_kernel, stop_kernel
from tests.support.models import PACED, Model, paced_outputs, spec
from tests.support.waiting import until

STREAM = "inferless/v2/models/paced/generate_stream"
ONE_AT_A_TIME = {"max_concurrency": 1, "queue_size": 0}
LONG = {"n": 400, "pause_ms": 25}  # Paced's run of 10 s
WIDER = Model("Paced", PACED.source, {**PACED.schema, "n": spec("INT64", example=5)})


@pytest.fixture
def second(jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[NotebookKernel]:
    """Another kernel of the server, the extension loaded."""
    notebook = jp_asyncio_loop.run_until_complete(start_kernel(jp_serverapp))
    yield notebook
    jp_asyncio_loop.run_until_complete(stop_kernel(jp_serverapp, notebook))


async def listed(api: Any, name: str = "paced") -> dict[str, Any] | None:
    """The model as the server lists it, or None."""
    status, body = await api.call("inferless/api/models")
    assert status == 200
    return next((model for model in body["models"] if model["name"] == name), None)


async def replicas(api: Any, count: int) -> dict[str, Any]:
    """The listing once it has ``count`` replicas."""

    async def check() -> dict[str, Any] | None:
        model = await listed(api)
        return model if model and len(model["replicas"]) == count else None

    return await until(check, f"'paced' with {count} replicas")


async def active_by_kernel(api: Any) -> dict[str, int]:
    """Each replica's open requests, by kernel id."""
    model = await listed(api)
    assert model is not None
    return {r["kernel_id"]: r["counters"]["active"] for r in model["replicas"]}


async def ran(kernel: NotebookKernel) -> int:
    """How many requests the kernel's Paced ran."""
    return int(await kernel.run("print(len(Paced.handlers))"))


async def test_two_kernels_serve_one_model_and_requests_spread(kernel, second, api):
    for notebook in (kernel, second):
        await notebook.run(PACED.serve("paced", **ONE_AT_A_TIME))
    model = await replicas(api, 2)
    assert [r["kernel_id"] for r in model["replicas"]] == [kernel.kernel_id, second.kernel_id]
    assert model["refused"] == [] and model["kernel_id"] == kernel.kernel_id
    assert model["replicas"][0]["counters"]["active"] == 0
    _, body = await api.call("inferless/api/models")
    assert [m["name"] for m in body["models"]] == ["paced"]  # one model, not two

    async def told() -> str | None:
        listing = await kernel.run("%inferless list")
        return listing if "2 replicas on the server" in listing else None

    assert "paced: Paced (streaming)" in await until(told, "the kernel told of 2 replicas")

    readers = [asyncio.ensure_future(api.stream(STREAM, LONG)) for _ in range(2)]
    both = {kernel.kernel_id: 1, second.kernel_id: 1}

    async def spread() -> bool:
        return await active_by_kernel(api) == both

    try:
        await until(spread, "the two streams running one on each kernel")
        busy = await api.stream(STREAM, {"n": 1})
        assert busy.status == 429, busy.body
        assert busy.headers.get("Retry-After") == "1"
        assert b"all 2 replicas" in busy.body
        assert [await ran(kernel), await ran(second)] == [1, 1]  # each kernel ran one
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    for notebook in (kernel, second):
        await notebook.run("jupyter_inferless.stop('paced')")
    await api.wait_for_model("paced", present=False)


async def test_a_different_schema_is_refused_naming_the_difference(kernel, second, api):
    await kernel.run(PACED.serve("paced", **ONE_AT_A_TIME))
    await replicas(api, 1)
    refused = await second.run(WIDER.serve("paced"), allow_error=True)
    assert "ReplicaRefused" in refused
    assert f"input 'n' is INT32 in kernel {kernel.kernel_id}, INT64 here" in refused
    assert "no models are served" in await second.run("%inferless list")
    model = await listed(api)
    assert model is not None and len(model["replicas"]) == 1 and model["refused"] == []

    # A kernel that did not wait for the verdict keeps serving: listed as refused, unused.
    await second.run("import jupyter_inferless.kernel.runtime as rt; rt.VERDICT_WAIT = 0")
    await second.run(WIDER.serve("paced"))

    async def refusal() -> list[dict[str, Any]]:
        model = await listed(api)
        return model["refused"] if model else []

    (shown,) = await until(refusal, "the second kernel's 'paced' listed as refused")
    assert shown["kernel_id"] == second.kernel_id
    assert "input 'n' is INT32 in kernel" in shown["reason"]

    async def kernel_told() -> str | None:
        listing = await second.run("%inferless list")
        return listing if "refused by the server" in listing else None

    assert "INT64 here" in await until(kernel_told, "the kernel told of its refusal")
    for _ in range(3):
        result = await api.stream(STREAM, {"n": 2})
        assert result.outputs == paced_outputs(2)
    assert [await ran(kernel), await ran(second)] == [3, 0]

    await kernel.run("jupyter_inferless.stop('paced')")  # the refused one is now the model
    model = await replicas(api, 1)
    assert model["kernel_id"] == second.kernel_id and model["refused"] == []
    assert (await api.stream(STREAM, {"n": 2})).outputs == paced_outputs(2)


async def _restarted(km: Any, timeout: float = 30.0) -> None:
    """Wait until the server's automatic restart of a killed kernel is done."""

    async def alive() -> bool:
        return km.ready.done() and await km.is_alive()

    await until(alive, "the killed kernel restarted", timeout)


async def test_kill_9_of_one_replica_ends_its_streams_and_the_other_serves(
    kernel, second, api, jp_serverapp
):
    for notebook in (kernel, second):
        await notebook.run(PACED.serve("paced", **ONE_AT_A_TIME))
    await replicas(api, 2)
    reader = asyncio.ensure_future(api.stream(STREAM, LONG))

    async def streaming() -> str | None:
        """The kernel running the stream, once its first event reached the server."""
        model = await listed(api)
        assert model is not None
        return next(
            (
                r["kernel_id"]
                for r in model["replicas"]
                if r["counters"]["active"] and r["counters"]["events"]
            ),
            None,
        )

    victim = await until(streaming, "the stream's first event")
    km = jp_serverapp.kernel_manager.get_kernel(victim)
    os.kill(km.provisioner.pid, signal.SIGKILL)
    result = await asyncio.wait_for(reader, 30)
    assert result.status == 200
    assert result.events[0].json == paced_outputs(1)[0]
    assert result.events[-1].json["kind"] == "kernel_gone"
    model = await replicas(api, 1)
    survivor = model["replicas"][0]["kernel_id"]
    assert survivor != victim
    for _ in range(2):
        after = await asyncio.wait_for(api.stream(STREAM, {"n": 3}), 30)
        assert after.outputs == paced_outputs(3)
    await _restarted(km)
