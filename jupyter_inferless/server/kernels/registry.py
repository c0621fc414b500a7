"""The models one kernel serves, as the server knows them, with their counters.

Admission control reads ``active`` and ``capacity``; the model list shows the counters.
The counters outlive a model's re-description (every serve or stop re-sends the list).
``joined`` orders the kernels that serve one name (``replicas.py``): a new serve of the
name joins anew, a re-description keeps its place. The numbers come from one count that
the catalog gives every kernel's registry.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from ...contract import ModelSchema
from ...protocol import ModelDescription


class ModelEntry:
    """A model a kernel serves, as the server knows it."""

    def __init__(self, kernel_id: str, description: ModelDescription, joined: int) -> None:
        self.kernel_id = kernel_id
        self.description = description
        self.name: str = description["name"]
        self.schema = ModelSchema.from_json(description["schema"])
        self.max_concurrency = description["max_concurrency"]  # checked when it arrived
        self.queue_size = description["queue_size"]
        self.generation = description["generation"]
        self.joined = joined
        self.active = 0
        self.requests = 0
        self.events = 0
        self.errors = 0

    @property
    def capacity(self) -> int:
        """Requests that may run or wait at once; more are refused as busy."""
        return self.max_concurrency + self.queue_size

    @property
    def load(self) -> float:
        """Open requests (running and queued) per request it may run at once."""
        return self.active / max(1, self.max_concurrency)

    def counters(self) -> dict[str, int]:
        """The counters the model list shows: ``active`` runs or waits, ``queued`` waits."""
        return {
            "requests": self.requests,
            "events": self.events,
            "errors": self.errors,
            "active": self.active,
            "queued": max(0, self.active - self.max_concurrency),
        }


class ModelRegistry:
    """The models of one kernel, by name."""

    def __init__(self, kernel_id: str, order: Iterator[int] | None = None) -> None:
        """``order`` numbers each model as it joins; shared by the registries of every
        kernel, so that it orders them all (by default, this registry's own)."""
        self.kernel_id = kernel_id
        self.order = order if order is not None else itertools.count()
        self._entries: dict[str, ModelEntry] = {}

    def update(self, described: list[ModelDescription]) -> None:
        """The kernel's models now; those it still serves keep their counters."""
        entries = {}
        for description in described:
            entry = ModelEntry(self.kernel_id, description, next(self.order))
            old = self._entries.get(entry.name)
            if old is not None:
                entry.requests, entry.events, entry.errors = old.requests, old.events, old.errors
                entry.active = old.active
                if old.generation == entry.generation:
                    entry.joined = old.joined
            entries[entry.name] = entry
        self._entries = entries

    def clear(self) -> bool:
        """Forget every model; whether there were any."""
        had = bool(self._entries)
        self._entries = {}
        return had

    def get(self, name: str) -> ModelEntry | None:
        """The model called ``name``, if this kernel serves it."""
        return self._entries.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> ModelEntry:
        return self._entries[name]

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def started(self, name: str) -> None:
        """A request of ``name`` was sent to the kernel."""
        entry = self._entries.get(name)
        if entry is not None:
            entry.requests += 1
            entry.active += 1

    def delivered(self, name: str, events: int) -> None:
        """``events`` events of ``name`` arrived."""
        entry = self._entries.get(name)
        if entry is not None:
            entry.events += events

    def ended(self, name: str, failed: bool) -> None:
        """A request of ``name`` ended."""
        entry = self._entries.get(name)
        if entry is not None:
            entry.active = max(0, entry.active - 1)
            entry.errors += 1 if failed else 0
