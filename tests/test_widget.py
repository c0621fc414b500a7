"""The inline stream view, driven from a real kernel over the real server's HTTP API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.kernels import start_kernel, stop_kernel
from tests.support.models import COUNTER, PACED, RAISES, Model, paced_text
from tests.support.waiting import until

NUMBERS = Model(
    "Numbers",
    """
    class Numbers:
        def infer(self, inputs, stream_output_handler):
            for i in range(5):
                stream_output_handler.send_streamed_output({"step": i, "loss": 1 / (i + 1)})
            stream_output_handler.finalise_streamed_output()
    """,
)
SERVED = {
    "paced": PACED.serve("paced", max_concurrency=2),
    "Fast": PACED.serve("Fast"),
    "Counted": COUNTER.serve("Counted"),
    "Numbers": NUMBERS.serve(),
    "Raises": RAISES.serve(),
}
"""The kernel code serving each model the tests stream, by name."""


async def serve(kernel: Any, api: Any, name: str) -> None:
    """Serve the model ``name`` in the kernel (see SERVED)."""
    await kernel.run(SERVED[name])
    await api.wait_for_model(name)


async def kernel_says(kernel: Any, expression: str) -> bool:
    """Whether ``expression`` is true in the kernel, now."""
    return (await kernel.run(f"print(bool({expression}))")).strip() == "True"


async def not_running(api: Any, name: str) -> bool:
    """Whether the server counts no active run of the model ``name``."""
    _, body = await api.call("inferless/api/models")
    (model,) = [model for model in body["models"] if model["name"] == name]
    return bool(model["counters"]["active"] == 0)


async def finished(kernel: Any, timeout: float = 30) -> dict[str, Any]:
    """Wait in the kernel for the view's end; its final state."""
    out = await kernel.run(
        f"state = view.wait({timeout})\n"
        "print(repr((state, view.events, view.updates, view.elapsed, view.text, view.error,"
        " view.error_kind)))"
    )
    state, events, updates, elapsed, text, error, kind = eval(out.strip().splitlines()[-1])
    return {
        "state": state,
        "events": events,
        "updates": updates,
        "elapsed": elapsed,
        "text": text,
        "error": error,
        "error_kind": kind,
    }


async def test_the_cell_returns_at_once_and_the_text_streams_in_throttled(kernel, api):
    await serve(kernel, api, "paced")
    await kernel.run('view = jupyter_inferless.stream("paced", n=60, pause_ms=40)')
    early = await kernel.run("print(view.state, view.events)")
    state, events = early.split()  # the cell returned before the stream ended
    assert state in ("connecting", "streaming") and int(events) < 60
    end = await finished(kernel)
    assert end["state"] == "done", end
    assert end["events"] == 60
    assert end["text"] == paced_text(60)
    assert end["updates"] > 3, end  # shown as it came, not once at the end
    shown = await kernel.run(
        "print(view.status.value)\nprint(view.body.value)\nprint(view.stop_button.disabled)"
    )
    assert "done" in shown and "60 events" in shown and "events/s" in shown
    assert "first event" in shown
    assert '<pre style="white-space: pre-wrap' in shown and "t59 " in shown
    assert shown.strip().endswith("True")  # Stop is disabled once the stream ended


async def test_a_fast_stream_does_not_flood_the_frontend(kernel, api):
    await serve(kernel, api, "Fast")
    client = kernel.client
    cell = client.execute('view = jupyter_inferless.stream("Fast", n=20_000)\nview.wait(60)')

    async def count_widget_updates() -> int:
        """The widget updates on IOPub until the cell is idle."""
        updates = 0
        while True:
            msg = await client.get_iopub_msg(timeout=60)
            content = msg["content"]
            if msg["header"]["msg_type"] == "comm_msg":
                # the updater's messages carry no particular parent: count them all
                updates += content["data"].get("method") == "update"
            parent = msg["parent_header"].get("msg_id")
            if parent == cell and content.get("execution_state") == "idle":
                return updates

    widget_updates = await asyncio.wait_for(count_widget_updates(), 90)
    end = await finished(kernel)
    print(
        f"20,000 events in {end['elapsed']:.2f} s: {end['updates']} view updates, "
        f"{widget_updates} widget messages"
    )
    assert end["state"] == "done" and end["events"] == 20_000
    assert end["text"] == paced_text(20_000)
    assert end["updates"] <= end["events"] // 10, "the view is not coalescing events"
    # each refresh changes at most three widgets (status, text, Stop button)
    assert end["updates"] <= widget_updates <= 3 * end["updates"]


async def test_stop_cancels_down_to_the_models_loop(kernel, api):
    await serve(kernel, api, "paced")
    await kernel.run('view = jupyter_inferless.stream("paced", n=1000, pause_ms=20)')
    await until(lambda: kernel_says(kernel, "view.events >= 5"), "five events in the view")
    await kernel.run("view.stop_button.click()")
    end = await finished(kernel)
    assert end["state"] == "cancelled", end  # decided by the in-band error's kind
    assert end["error_kind"] == "cancelled" and end["error"].startswith("cancelled"), end
    assert 5 <= end["events"] < 1000
    # The server counts the run until the kernel reports its end: the model's loop is over.
    await until(lambda: not_running(api, "paced"), "the run of 'paced' ending")
    out = await kernel.run("print(Paced.loop_ended, Paced.produced)\nprint(view.status.value)")
    ended, rest = out.split("]", 1)
    produced, status = rest.split("\n", 1)
    assert ended.strip("[ ") == produced.strip(), out  # it ended where it stopped sending
    assert int(produced) < 1000, out
    assert "cancelled" in status and "color: #c5221f" not in status  # not shown as a failure


async def test_an_in_band_error_is_shown_in_red(kernel, api):
    await serve(kernel, api, "Raises")
    await kernel.run('view = jupyter_inferless.stream("Raises")')
    end = await finished(kernel)
    assert end["state"] == "failed"
    assert end["error"] == "ValueError: bad <weights>" and end["error_kind"] == "model_error"
    assert end["text"] == "a" and end["events"] == 1
    status = await kernel.run("print(view.status.value)")
    assert "color: #c5221f" in status and "ValueError: bad &lt;weights&gt;" in status


async def test_numbers_show_as_a_live_table(kernel, api):
    await serve(kernel, api, "Numbers")
    await kernel.run('view = jupyter_inferless.stream("Numbers")')
    end = await finished(kernel)
    assert end["state"] == "done" and end["events"] == 5 and end["text"] == ""
    out = await kernel.run("print(view.latest)\nprint(view.table.value)\nprint(view.body.value)")
    assert "{'step': 4, 'loss': 0.2}" in out
    assert "<table>" in out and "latest of 5 events" in out
    assert "<th" in out and "step</th>" in out and "<td" in out and "0.2</td>" in out
    assert "<pre" not in out


async def test_out_is_the_text_and_the_other_keys_a_live_table(kernel, api):
    await serve(kernel, api, "Counted")
    await kernel.run('view = jupyter_inferless.stream("Counted", n=5)')
    end = await finished(kernel)
    assert end["state"] == "done" and end["events"] == 5, end
    assert end["text"] == "tok" * 5
    out = await kernel.run("print(view.table_values)\nprint(view.table.value)")
    assert "{'i': 4}" in out and "latest of 5 events" in out and "i</th>" in out
    assert "OUT</th>" not in out


async def test_the_magic_coerces_values_by_the_schema(kernel, api):
    await serve(kernel, api, "paced")
    shown = await kernel.run('%inferless stream paced n=5 pause_ms=1 prefix="<a fine house> "')
    assert shown.count("VBox(") == 1, shown  # displayed once, though also the cell's value
    await kernel.run("view = _")
    end = await finished(kernel)
    assert end["state"] == "done" and end["events"] == 5
    assert end["text"] == paced_text(5, prefix="<a fine house> ")
    body = await kernel.run("print(view.body.value)")
    assert "&lt;a fine house&gt; 0" in body  # escaped, never markup


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "%inferless stream paced n=5 bogus=1",
            "unknown input 'bogus'; the model's inputs are: 'n', 'pause_ms', 'prefix'",
        ),
        (
            "%inferless stream paced n=five",
            "input 'n' (INT32): expected an integer (ASCII digits, a sign), got 'five'",
        ),
        ("%inferless stream paced pause_ms=1", "missing required input 'n' (INT32)"),
        ("%inferless stream paced n", "expected key=value, got 'n'"),
        ("%inferless stream nope", "no model named 'nope' is served (served: paced)"),
    ],
)
async def test_bad_magic_lines_are_clear_errors(kernel, api, line, message):
    await serve(kernel, api, "paced")
    out = await kernel.run(line, allow_error=True)
    assert message in out, out


async def test_python_inputs_are_checked_and_no_server_is_a_clear_error(kernel, api):
    await serve(kernel, api, "paced")
    out = await kernel.run('jupyter_inferless.stream("paced", n=2, temp=1)', allow_error=True)
    assert "unknown input 'temp'" in out
    out = await kernel.run(
        "from jupyter_inferless.kernel import Runtime\n"
        "links = dict(Runtime.current().links)\n"
        "Runtime.current().links.clear()\n"
        "try:\n"
        '    jupyter_inferless.stream("paced", n=2)\n'
        "finally:\n"
        "    Runtime.current().links.update(links)",
        allow_error=True,
    )
    assert "NoServerError" in out and "no Jupyter server with jupyter_inferless" in out


async def test_a_model_of_another_kernel_is_coerced_by_the_servers_schema(
    kernel, api, jp_serverapp
):
    await serve(kernel, api, "paced")
    other = await start_kernel(jp_serverapp)
    try:
        await other.run("import jupyter_inferless, time")
        await other.run("view = %inferless stream paced n=3 pause_ms=1 prefix=k")
        end = await finished(other)
        assert end["state"] == "done" and end["text"] == "k0 k1 k2 "
        out = await other.run("%inferless stream paced n=3 extra=1", allow_error=True)
        assert "unknown input 'extra'" in out
    finally:
        await stop_kernel(jp_serverapp, other)


async def test_the_kernel_is_handed_no_token_and_the_view_needs_none(kernel, api, jp_serverapp):
    token = jp_serverapp.identity_provider.token
    assert token
    await serve(kernel, api, "paced")
    out = await kernel.run(
        "import os\n"
        "from jupyter_inferless.kernel import Runtime\n"
        "link = next(iter(Runtime.current().links.values()))\n"
        "print(hasattr(link, 'server_token'), repr(vars(link)))\n"
        'os.environ.pop("JUPYTER_TOKEN", None), os.environ.pop("JUPYTER_INFERLESS_TOKEN", None)\n'
        'view = jupyter_inferless.stream("paced", n=3, pause_ms=1)'
    )
    assert out.startswith("False") and token not in out
    end = await finished(kernel)
    assert end["state"] == "done" and end["text"] == paced_text(3), end
    out = await kernel.run("jupyter_inferless.connection()", allow_error=True)
    assert "no token for the Jupyter server" in out and "JUPYTER_TOKEN" in out, out
    out = await kernel.run("print(jupyter_inferless.connection(token='t'))")
    assert out.strip().startswith("('http") and out.strip().endswith(", 't')"), out
