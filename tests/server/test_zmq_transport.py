"""The ZMQ transport's IOPub reader, against real ZMQ sockets standing in for a kernel's.

The stand-in kernel binds ``inproc`` sockets in the transport's own ZMQ context, so a
message published is in the transport's queue when ``send`` returns: a test can queue
many before the server's loop runs, with nothing to wait for.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.session import Session

from jupyter_inferless.protocol import TOPIC_PREFIX
from jupyter_inferless.server.kernels.transport.base import DRAIN_MESSAGES
from jupyter_inferless.server.kernels.transport.zmq import ZmqTransport
from tests.support.waiting import until, wait_async_event

KEY = b"a-test-key"
KERNELS = itertools.count()


class KernelSockets:
    """A kernel's IOPub (PUB), shell and control (ROUTER) on inproc, and its session."""

    def __init__(self) -> None:
        # inproc reaches only sockets of the same context: the transport's.
        self.context = zmq.Context.shadow(zmq.asyncio.Context.instance().underlying)
        self.name = f"kernel{next(KERNELS)}"
        self.sockets = {
            "iopub": self.context.socket(zmq.PUB),
            "shell": self.context.socket(zmq.ROUTER),
            "control": self.context.socket(zmq.ROUTER),
        }
        for port, sock in enumerate(self.sockets.values()):
            sock.bind(f"inproc://{self.name}-{port}")
        self.session = Session(key=KEY, username="kernel")

    def get_connection_info(self) -> dict[str, Any]:
        """What a kernel manager tells its clients."""
        info: dict[str, Any] = {"transport": "inproc", "ip": self.name}
        info.update({f"{name}_port": port for port, name in enumerate(self.sockets)})
        return info

    def publish(self, n: int) -> None:
        """One comm message of ours on IOPub."""
        content = {"comm_id": "c", "data": {"op": "frame", "n": n}}
        iopub = self.sockets["iopub"]
        self.session.send(iopub, "comm_msg", content, ident=TOPIC_PREFIX + b".link.c")

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close(linger=0)


def test_frames_already_queued_are_all_taken_in_one_turn_of_the_loop() -> None:
    async def scenario() -> dict[int, int]:
        kernel = KernelSockets()
        received: dict[int, int] = {}  # n -> the loop turn it was dispatched in
        warm, all_in = asyncio.Event(), asyncio.Event()
        turn = 0

        def on_message(comm_id: str | None, data: dict[str, Any], buffers: list[Any]) -> None:
            if data["n"] < 0:  # the warm-up's
                warm.set()
                return
            received[data["n"]] = turn
            if len(received) == 40:
                all_in.set()

        def count_turns() -> None:
            nonlocal turn
            turn += 1
            asyncio.get_running_loop().call_soon(count_turns)

        transport = ZmqTransport("k", kernel, on_message)
        try:
            # The subscription reaches the publisher a moment after the connect.
            await until(lambda: kernel.publish(-1) or warm.is_set(), "a frame through")
            asyncio.get_running_loop().call_soon(count_turns)
            assert DRAIN_MESSAGES >= 40
            for n in range(40):  # a busy server: all 40 queue up before its loop reads
                kernel.publish(n)
            await wait_async_event(all_in, "all 40 frames through the transport")
            return received
        finally:
            await transport.close()
            kernel.close()

    received = asyncio.run(scenario())
    assert sorted(received) == list(range(40)), "every frame, in order, none twice"
    assert list(received) == list(range(40))
    turns = set(received.values())
    assert len(turns) == 1, f"taken in one turn, not one frame per turn: {sorted(turns)}"
