"""A stream's upstream for tests of streams alone: it records what a kernel's bridge
would be told (``server/streams/stream.py`` ``Upstream``)."""

from __future__ import annotations

from typing import Any


class RecordingKernel:
    """Stands in for a kernel's bridge: the positions it heard consumed, the cancels."""

    def __init__(self, kernel_id: str = "kernel") -> None:
        self.kernel_id = kernel_id
        self.advanced: list[int] = []
        self.cancelled: list[str] = []

    def consumed(self, stream: Any) -> None:
        self.advanced.append(stream.consumed)

    def cancel(self, rid: str) -> None:
        self.cancelled.append(rid)
