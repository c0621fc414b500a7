"""Our comm traffic must never trip the notebook's IOPub rate limit."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tests.support.models import COUNTER
from tests.support.waiting import until

RATE_WARNING = "IOPub message rate exceeded"

FLOOD = """
from ipykernel.kernelbase import Kernel
k = Kernel.instance()
parent = k.get_parent()
for i in range(6000):
    k.session.send(k.iopub_socket, "comm_msg", {"comm_id": "flood", "data": {"i": i}},
                   parent=parent, ident=b"comm-flood")
"""


class NotebookTab:
    """A notebook tab's websocket to the kernel: records what it is shown."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.stderr: list[str] = []
        self.comm_times: list[float] = []
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while True:
            raw = await self.ws.read_message()
            if raw is None:
                return
            msg = json.loads(raw if isinstance(raw, str) else _json_part(raw))
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                self.stderr.append(msg["content"]["text"])
            elif kind == "comm_msg":
                self.comm_times.append(time.monotonic())

    def warned(self) -> bool:
        return any(RATE_WARNING in text for text in self.stderr)

    def busiest_window(self, seconds: float = 3.0) -> int:
        """The most comm messages shown within any window of ``seconds``."""
        most, start = 0, 0
        for end, at in enumerate(self.comm_times):
            while at - self.comm_times[start] > seconds:
                start += 1
            most = max(most, end - start + 1)
        return most

    def close(self) -> None:
        self.task.cancel()
        self.ws.close()


def _json_part(raw: bytes) -> bytes:
    """The JSON part of jupyter_server's binary websocket message (one with buffers)."""
    count = int.from_bytes(raw[:4], "big")
    offsets = [int.from_bytes(raw[4 * (i + 1) : 4 * (i + 2)], "big") for i in range(count)]
    return raw[offsets[0] : offsets[1]]


async def shown(tab: NotebookTab, kernel: Any, marker: str) -> None:
    """Print ``marker`` in the kernel until the tab shows it: then it also shows what the
    kernel put on IOPub before it (IOPub keeps its order)."""

    async def printed() -> bool:
        await kernel.run(f"print({marker!r})")
        return any(marker in text for text in tab.stderr)

    await until(printed, f"the tab showing {marker!r}")


async def open_tab(jp_ws_fetch: Any, kernel: Any) -> NotebookTab:
    """A tab, once the server has subscribed it to the kernel's IOPub."""
    ws = await jp_ws_fetch("api", "kernels", kernel.kernel_id, "channels")
    tab = NotebookTab(ws)
    await shown(tab, kernel, "the tab is subscribed")
    return tab


async def test_a_20000_event_stream_never_trips_the_iopub_rate_limit(kernel, api, jp_ws_fetch):
    await kernel.run(COUNTER.serve("counter"))
    await api.wait_for_model("counter")
    tab = await open_tab(jp_ws_fetch, kernel)
    try:
        result = await api.stream("inferless/v2/models/counter/generate_stream", {"n": 20_000})
        await shown(tab, kernel, "after the stream")  # the tab was shown every frame
        assert result.status == 200
        assert len(result.events) == 20_000
        assert [e.position for e in result.events[-3:]] == [19997, 19998, 19999]
        assert tab.comm_times, "the tab should see the link's frames on IOPub"
        assert not tab.warned(), tab.stderr
        # The limit is 1000 msg/s over a 3 s window; stay well under it even without
        # the resets that idle status messages cause.
        print(
            f"frames shown to the tab: {len(tab.comm_times)}, busiest 3 s: {tab.busiest_window()}"
        )
        assert tab.busiest_window() < 2000, tab.busiest_window()
    finally:
        tab.close()


async def test_the_tab_does_warn_when_a_kernel_floods_comm_messages(kernel, jp_ws_fetch):
    """Control: the check above can fail, since raw per-event comm messages trip the limit."""
    tab = await open_tab(jp_ws_fetch, kernel)
    try:
        await kernel.run(FLOOD)
        await until(tab.warned, "the tab warning that the IOPub rate was exceeded")
    finally:
        tab.close()
