"""The kernel runtime's lifetime: every thread it starts stops, unload undoes load, and a
kernel shutdown still finalizes the models."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

from tests.support.models import ASYNC_ENGINE, PACED, counter_outputs, paced_outputs
from tests.support.server_state import streams_running
from tests.support.waiting import until

PACED_STREAM = "inferless/v2/models/paced/generate_stream"
ENGINE_STREAM = "inferless/v2/models/engine/generate_stream"
AGAIN_STREAM = "inferless/v2/models/again/generate_stream"


def tidy(name: str, finalize: str) -> str:
    """Kernel code defining Paced and a subclass ``name`` whose finalize() runs ``finalize``."""
    body = textwrap.indent(textwrap.dedent(finalize).strip(), " " * 8)
    return (
        "import jupyter_inferless\n"
        + textwrap.dedent(PACED.source)
        + f"\nclass {name}(Paced):\n    def finalize(self):\n{body}\n"
    )


SERVE_BOTH = "\n".join(
    [
        tidy("PacedTidy", "PacedTidy.finalized = getattr(PacedTidy, 'finalized', 0) + 1"),
        textwrap.dedent(ASYNC_ENGINE.source),
        f"jupyter_inferless.serve(PacedTidy, name='paced', input_schema={PACED.schema!r})",
        "jupyter_inferless.serve(AsyncEngine, name='engine', "
        f"input_schema={ASYNC_ENGINE.schema!r})",
    ]
)
"""Paced (sync, its finalize counted) as ``paced`` and AsyncEngine (async) as ``engine``."""

THREADS_LEFT = """
import threading, time

def inferless_threads():
    return [t for t in threading.enumerate() if t.name.startswith("inferless")]

deadline = time.monotonic() + {wait}
for thread in inferless_threads():  # each waited for until it ends, or until the deadline
    thread.join(max(0.0, deadline - time.monotonic()))
print(sorted(t.name for t in inferless_threads()))
"""


async def threads_left(kernel: Any, wait: float = 10.0) -> list[str]:
    """The names of the kernel's "inferless…" threads still alive, having joined them for
    up to ``wait`` s."""
    names: list[str] = eval((await kernel.run(THREADS_LEFT.format(wait=wait))).strip())
    return names


async def serve_both(kernel: Any, api: Any) -> None:
    await kernel.run(SERVE_BOTH)
    await api.wait_for_model("paced")
    await api.wait_for_model("engine")


async def test_unload_stops_every_thread_and_gives_the_kernel_back(kernel, api, jp_serverapp):
    await serve_both(kernel, api)
    assert (await api.stream(PACED_STREAM, {"n": 3})).outputs == paced_outputs(3)
    running = asyncio.ensure_future(api.stream(ENGINE_STREAM, {"n": 1000, "pause_ms": 20}))
    await kernel.run('view = jupyter_inferless.stream("paced", n=1000, pause_ms=20)')
    await streams_running(jp_serverapp, count=2, events=3, model="paced")  # the 3 above, the view's
    before = await threads_left(kernel, wait=0)
    for name in ("inferless-paced", "inferless-loop-", "inferless-outbox", "inferless-view"):
        assert any(t.startswith(name) for t in before), (name, before)

    await kernel.run("%unload_ext jupyter_inferless")

    assert await threads_left(kernel) == []
    result = await asyncio.wait_for(running, 10)
    assert result.events[-1].json["kind"] == "cancelled", "the request ended in-band"
    out = await kernel.run(
        "from jupyter_inferless.kernel import Runtime\n"
        "from jupyter_inferless.protocol import TARGET_NAME\n"
        "kernel = get_ipython().kernel\n"
        "print('do_shutdown' in vars(kernel),\n"
        "      kernel.do_shutdown.__func__ is type(kernel).do_shutdown,\n"
        "      Runtime.existing() is None,\n"
        "      TARGET_NAME in kernel.comm_manager.targets,\n"
        "      'inferless' in get_ipython().magics_manager.magics['line'],\n"
        "      PacedTidy.finalized, AsyncEngine.finalized_on is not None,\n"
        "      view.wait(5))"
    )
    assert out.split() == ["False", "True", "True", "False", "False", "1", "True", "cancelled"]

    # A later %load_ext starts clean: a new runtime, linked again, serving again.
    await kernel.run("%load_ext jupyter_inferless\n" + PACED.serve("again"))
    await api.wait_for_model("again")
    assert (await api.stream(AGAIN_STREAM, {"n": 3})).outputs == paced_outputs(3)


async def test_stopping_the_last_model_leaves_no_thread_running(kernel, api):
    await serve_both(kernel, api)
    assert (await api.stream(PACED_STREAM, {"n": 3})).outputs == paced_outputs(3)
    assert (await api.stream(ENGINE_STREAM, {"n": 3})).outputs == counter_outputs(3)
    await kernel.run("%inferless stop paced")
    left = await threads_left(kernel, wait=0)
    assert any(t.startswith("inferless-loop-") for t in left), "engine is still served"
    await kernel.run("%inferless stop engine")
    assert await threads_left(kernel) == []
    # Serving again starts what is needed again.
    await kernel.run(PACED.serve("paced"))
    await api.wait_for_model("paced")
    assert (await api.stream(PACED_STREAM, {"n": 3})).outputs == paced_outputs(3)


async def test_a_shutdown_after_unload_and_load_finalizes_once(
    kernel, api, jp_serverapp, tmp_path: Path
):
    marker = tmp_path / "finalized.txt"
    await kernel.run("%unload_ext jupyter_inferless\n%load_ext jupyter_inferless")
    append = "with open(MARKER, 'a') as marker:\n    marker.write('finalized\\n')"
    await kernel.run(
        f"MARKER = {str(marker)!r}\n"
        + tidy("Tidy", append)
        + f"jupyter_inferless.serve(Tidy, name='tidy', input_schema={PACED.schema!r})"
    )
    await api.wait_for_model("tidy")
    await jp_serverapp.kernel_manager.shutdown_kernel(kernel.kernel_id)  # a shutdown request
    await until(marker.exists, "the model finalized", 10)
    assert marker.read_text() == "finalized\n"
