"""The ZMQ transport's IOPub reader, against real ZMQ sockets standing in for a kernel's."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import zmq
from jupyter_client.session import Session

from jupyter_inferless.protocol import TOPIC_PREFIX
from jupyter_inferless.server.kernels.transport.zmq import DRAIN_FRAMES, ZmqTransport

KEY = b"a-test-key"


class KernelSockets:
    """A kernel's IOPub (PUB), shell and control (ROUTER) on loopback, and its session."""

    def __init__(self) -> None:
        self.context = zmq.Context()
        self.iopub = self.context.socket(zmq.PUB)
        self.shell = self.context.socket(zmq.ROUTER)
        self.control = self.context.socket(zmq.ROUTER)
        self.ports = {
            name: sock.bind_to_random_port("tcp://127.0.0.1")
            for name, sock in (
                ("iopub", self.iopub),
                ("shell", self.shell),
                ("control", self.control),
            )
        }
        self.session = Session(key=KEY, username="kernel")

    def get_connection_info(self) -> dict[str, Any]:
        """What a kernel manager tells its clients."""
        info: dict[str, Any] = {"transport": "tcp", "ip": "127.0.0.1"}
        info.update({f"{name}_port": port for name, port in self.ports.items()})
        return info

    def publish(self, n: int) -> None:
        """One comm message of ours on IOPub."""
        content = {"comm_id": "c", "data": {"op": "frame", "n": n}}
        self.session.send(self.iopub, "comm_msg", content, ident=TOPIC_PREFIX + b".link.c")

    def close(self) -> None:
        self.context.destroy(linger=0)


def test_frames_already_queued_are_all_taken_in_one_turn_of_the_loop() -> None:
    async def scenario() -> dict[int, int]:
        kernel = KernelSockets()
        received: dict[int, int] = {}  # n -> the loop turn it was dispatched in
        turn = 0

        def on_message(comm_id: str | None, data: dict[str, Any], buffers: list[Any]) -> None:
            received[data["n"]] = turn

        def count_turns() -> None:
            nonlocal turn
            turn += 1
            asyncio.get_running_loop().call_soon(count_turns)

        transport = ZmqTransport("k", kernel, on_message)
        try:
            n = -1
            while not received:  # the subscription takes a moment to reach the publisher
                kernel.publish(n)
                await asyncio.sleep(0.02)
            asyncio.get_running_loop().call_soon(count_turns)
            await asyncio.sleep(0.01)
            received.clear()
            assert DRAIN_FRAMES >= 40
            for n in range(40):
                kernel.publish(n)
            time.sleep(0.2)  # a busy server: all 40 queue up before its loop reads
            deadline = time.monotonic() + 5
            while len(received) < 40 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return received
        finally:
            await transport.close()
            kernel.close()

    received = asyncio.run(scenario())
    assert sorted(received) == list(range(40)), "every frame, in order, none twice"
    assert list(received) == list(range(40))
    turns = set(received.values())
    assert len(turns) == 1, f"taken in one turn, not one frame per turn: {sorted(turns)}"
