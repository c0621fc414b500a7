"""The kernel's end of the link: a batch is handled as its messages, one by one, in order."""

from __future__ import annotations

from typing import Any

from jupyter_inferless import protocol
from jupyter_inferless.kernel.channel import RequestChannel
from jupyter_inferless.kernel.link import Link


class Comm:
    """The two hooks Link sets on its comm."""

    comm_id = "c1"

    def on_msg(self, callback: Any) -> None:
        self.deliver = callback

    def on_close(self, callback: Any) -> None:
        self.close = callback


def comm_msg(data: Any) -> dict[str, Any]:
    return {"content": {"comm_id": Comm.comm_id, "data": data}}


def test_a_batch_starts_and_cancels_its_requests_in_order():
    started: list[tuple[str, RequestChannel]] = []
    comm = Comm()
    link = Link(
        kernel=None,
        comm=comm,
        open_msg={"content": {"data": protocol.open_data("http://h/")}},
        start=lambda request, channel: started.append((request["rid"], channel)),
        on_close=lambda link: None,
    )
    try:
        comm.deliver(
            comm_msg(
                protocol.batch(
                    [
                        protocol.infer("a", "m", {"n": 1}, (5, 100)),
                        protocol.infer("b", "m", {"n": 2}, (5, 100)),
                        protocol.cancel("a"),
                        protocol.replicas({"m": protocol.verdict(1, 1, None)}),
                    ]
                )
            )
        )
        assert [rid for rid, _ in started] == ["a", "b"]
        channels = dict(started)
        assert channels["a"].cancelled.is_set(), "the cancel came after a's start"
        assert not channels["b"].cancelled.is_set()
        assert (channels["b"].credit_events, channels["b"].credit_bytes) == (5, 100)
        assert link.verdicts == {"m": protocol.verdict(1, 1, None)}
    finally:
        comm.close({})
