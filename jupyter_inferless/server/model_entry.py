"""What the server knows of a model a kernel serves; the error for a kernel that is gone."""

from __future__ import annotations

from typing import Any

from ..contract import DEFAULT_MAX_CONCURRENCY, ModelSchema


class KernelGone(Exception):
    """The kernel stopped answering, restarted or shut down."""


class ModelEntry:
    """A model a kernel serves, as the server knows it."""

    def __init__(self, kernel_id: str, description: dict[str, Any]) -> None:
        self.kernel_id = kernel_id
        self.description = description
        self.name: str = description["name"]
        self.schema = ModelSchema.from_json(description["schema"])
        self.max_concurrency = int(description.get("max_concurrency", DEFAULT_MAX_CONCURRENCY))
        self.queue_size = int(description.get("queue_size", 0))
        self.active = 0
        self.requests = 0
        self.events = 0
        self.errors = 0

    @property
    def capacity(self) -> int:
        """Requests that may run or wait at once; more are refused with 429."""
        return self.max_concurrency + self.queue_size
