"""A kernel whose jupyter_inferless speaks another protocol version, against the server:
its models are listed as refused with the reason (both versions named), no request
reaches them, and its ``%inferless serve`` raises with the same text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_inferless.protocol.constants import PROTOCOL_VERSION, mismatch
from tests.support.kernels import NotebookKernel, stop_kernel
from tests.support.models import PACED, paced_outputs
from tests.support.waiting import until

OTHER = PROTOCOL_VERSION + 1
REASON = mismatch(OTHER, PROTOCOL_VERSION)
STREAM = "inferless/v2/models/paced/generate_stream"


async def start_kernel_of_version(serverapp: Any, version: int) -> NotebookKernel:
    """A kernel of the server whose runtime speaks ``version``: its startup code patches
    the constant before ``%load_ext jupyter_inferless``."""
    manager = serverapp.kernel_manager
    kernel_id = await manager.start_kernel()
    client = manager.get_kernel(kernel_id).client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    notebook = NotebookKernel(kernel_id, client)
    await notebook.run(
        "import jupyter_inferless.protocol.constants as constants\n"
        f"constants.PROTOCOL_VERSION = {version}\n"
        "%load_ext jupyter_inferless"
    )
    return notebook


@pytest.fixture
def other(jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[NotebookKernel]:
    """A kernel of the server whose jupyter_inferless speaks the next protocol version."""
    notebook = jp_asyncio_loop.run_until_complete(start_kernel_of_version(jp_serverapp, OTHER))
    yield notebook
    jp_asyncio_loop.run_until_complete(stop_kernel(jp_serverapp, notebook))


async def refused_link(notebook: NotebookKernel) -> str:
    """Wait until the server linked the kernel only to refuse it; the kernel's reason."""
    code = "from jupyter_inferless.kernel.runtime import Runtime\n"
    code += "print(Runtime.current().link_manager.refusal() or '')"

    async def told() -> str:
        return (await notebook.run(code)).strip()

    return await until(told, "the server never linked the kernel to refuse it")


async def listed(api: Any, name: str = "paced") -> dict[str, Any] | None:
    """The model as the server lists it, or None."""
    status, body = await api.call("inferless/api/models")
    assert status == 200
    return next((model for model in body["models"] if model["name"] == name), None)


async def ran(kernel: NotebookKernel) -> int:
    """How many requests the kernel's Paced ran."""
    return int(await kernel.run("print(len(Paced.handlers))"))


async def test_a_kernel_of_another_version_is_listed_as_refused_and_its_serve_says_why(
    kernel, other, api
):
    await kernel.run(PACED.serve("paced"))
    await api.wait_for_model("paced")
    assert await refused_link(other) == REASON
    refused = await other.run(PACED.serve("paced"), allow_error=True)
    assert "ReplicaRefused" in refused and REASON in refused, refused
    assert f"protocol {OTHER}" in REASON and f"protocol {PROTOCOL_VERSION}" in REASON
    assert "no models are served" in await other.run("%inferless list")

    # A kernel that did not wait for the verdict keeps serving: listed as refused, unused.
    await other.run("import jupyter_inferless.kernel.runtime as rt; rt.VERDICT_WAIT = 0")
    await other.run(PACED.serve("paced"))

    async def refusal() -> list[dict[str, Any]]:
        model = await listed(api)
        return model["refused"] if model else []

    (shown,) = await until(refusal, "the other kernel's 'paced' was never listed as refused")
    assert shown == {"kernel_id": other.kernel_id, "notebook": None, "reason": REASON}

    async def kernel_told() -> str | None:
        listing = await other.run("%inferless list")
        return listing if "refused by the server" in listing else None

    assert REASON in await until(kernel_told, "the kernel never heard of its refusal")
    for _ in range(3):
        assert (await api.stream(STREAM, {"n": 2})).outputs == paced_outputs(2)
    assert [await ran(kernel), await ran(other)] == [3, 0]

    # Alone, it serves nothing: the name is not found, and the answer says why.
    await kernel.run("jupyter_inferless.stop('paced')")
    await api.wait_for_model("paced", present=False)
    gone = await api.stream(STREAM, {"n": 2})
    assert gone.status == 404 and REASON.encode() in gone.body, gone.body
    assert await ran(other) == 0

    # The magic, waiting for the verdict again, raises with the same text.
    await other.run("rt.VERDICT_WAIT = 5.0")
    raised = await other.run("%inferless serve Paced --name second", allow_error=True)
    assert "ReplicaRefused" in raised and REASON in raised, raised
    assert "'second' is not served from this kernel" in raised


async def test_a_view_in_a_refused_kernel_says_why(other, api):
    await refused_link(other)
    said = await other.run(
        "from jupyter_inferless.widget.link_client import link_client\n"
        "try:\n"
        "    link_client(wait=0.5)\n"
        "except Exception as err:\n"
        "    print(type(err).__name__, err)"
    )
    assert said.startswith("NoServerError the Jupyter server refuses this kernel: ")
    assert REASON in said
