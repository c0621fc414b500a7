"""One model name served by several kernels: its replicas, the refused ones, the pick.

The first kernel to serve a name (by ``ModelEntry.joined``) sets the model's schema and
streaming flag. Another kernel serving the name with the same ones is a replica; with
different ones it is refused, and the refusal names the difference. Requests go to the
least-loaded replica with room. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...contract import InputSpec, ModelSchema
from ...protocol import Verdict, verdict
from .registry import ModelEntry

if TYPE_CHECKING:
    from .bridge import KernelBridge


@dataclass(frozen=True)
class Replica:
    """One kernel's model of the name: its bridge and entry."""

    bridge: KernelBridge
    entry: ModelEntry
    refused: str | None = None  # why it takes no requests, naming the difference

    @property
    def kernel_id(self) -> str:
        """The kernel serving it."""
        return self.bridge.kernel_id


@dataclass
class Replicas:
    """A model name: the replicas that serve it, in the order they joined, and the refused."""

    name: str
    replicas: list[Replica]
    refused: list[Replica] = field(default_factory=list)
    unread: list[tuple[str, str]] = field(default_factory=list)
    """Kernels of another protocol version that serve the name: kernel id, why refused."""

    @property
    def entry(self) -> ModelEntry:
        """The first replica's entry: its schema and description are the model's."""
        return self.replicas[0].entry

    @property
    def schema(self) -> ModelSchema:
        """The model's schema, which every replica shares."""
        return self.entry.schema

    @property
    def max_concurrency(self) -> int:
        """Requests the replicas run at once, together."""
        return sum(replica.entry.max_concurrency for replica in self.replicas)

    @property
    def queue_size(self) -> int:
        """Requests the replicas queue, together."""
        return sum(replica.entry.queue_size for replica in self.replicas)

    def pick(self) -> Replica | None:
        """The least-loaded replica with room (the first joined among equals), or None."""
        free = [r for r in self.replicas if r.entry.active < r.entry.capacity]
        return min(free, key=lambda replica: replica.entry.load, default=None)

    def counters(self) -> dict[str, int]:
        """The replicas' counters, summed."""
        total: dict[str, int] = {}
        for replica in self.replicas:
            for key, value in replica.entry.counters().items():
                total[key] = total.get(key, 0) + value
        return total

    def verdict(self, entry: ModelEntry) -> Verdict:
        """What the server tells the kernel of ``entry`` about it."""
        refusal = next((r.refused for r in self.refused if r.entry is entry), None)
        return verdict(entry.generation, len(self.replicas), refusal)

    def listing(self, notebooks: dict[str, str]) -> dict[str, Any]:
        """The model as ``GET inferless/api/models`` lists it: the first replica's
        description, the summed counters, and each replica and refusal."""
        first = self.replicas[0]
        described: dict[str, Any] = dict(self.entry.description)
        described.pop("generation", None)
        described.update(
            kernel_id=first.kernel_id,
            notebook=notebooks.get(first.kernel_id),
            counters=self.counters(),
            replicas=[_replica(replica, notebooks) for replica in self.replicas],
            refused=[
                {"kernel_id": kernel_id, "notebook": notebooks.get(kernel_id), "reason": reason}
                for kernel_id, reason in [
                    *((replica.kernel_id, replica.refused) for replica in self.refused),
                    *self.unread,
                ]
            ],
        )
        return described


def _replica(replica: Replica, notebooks: dict[str, str]) -> dict[str, Any]:
    entry = replica.entry
    return {
        "kernel_id": replica.kernel_id,
        "notebook": notebooks.get(replica.kernel_id),
        "device": entry.description.get("device"),
        "max_concurrency": entry.max_concurrency,
        "queue_size": entry.queue_size,
        "counters": entry.counters(),
    }


def group(
    served: Iterable[tuple[KernelBridge, ModelEntry]],
    unread: Mapping[str, list[tuple[str, str]]] | None = None,
) -> dict[str, Replicas]:
    """Every name's replicas, the names in the order they were first served; with the
    kernels of another protocol version that serve each (``unread``: kernel id, reason)."""
    models: dict[str, Replicas] = {}
    for bridge, entry in sorted(served, key=lambda pair: (pair[1].joined, pair[0].kernel_id)):
        model = models.get(entry.name)
        if model is None:
            models[entry.name] = Replicas(entry.name, [Replica(bridge, entry)])
            continue
        first = model.replicas[0]
        reason = difference(first.entry.schema, entry.schema, first.kernel_id)
        if reason is None:
            model.replicas.append(Replica(bridge, entry))
        else:
            refusal = f"model {entry.name!r} is served with another schema: {reason}"
            model.refused.append(Replica(bridge, entry, refusal))
    for name, kernels in (unread or {}).items():
        if name in models:
            models[name].unread.extend(kernels)
    return models


def difference(there: ModelSchema, here: ModelSchema, kernel_id: str) -> str | None:
    """How ``here`` differs from the schema kernel ``kernel_id`` serves (None: it does not):
    the streaming flag, a declared schema, each input's datatype, shape and requiredness."""
    where = f"kernel {kernel_id}"
    if there.streaming != here.streaming:
        kinds = {True: "streaming", False: "non-streaming"}
        return f"it is {kinds[there.streaming]} in {where}, {kinds[here.streaming]} here"
    if there.declared != here.declared:
        kinds = {True: "declared", False: "not declared"}
        there_kind, here_kind = kinds[there.declared], kinds[here.declared]
        return f"its INPUT_SCHEMA is {there_kind} in {where}, {here_kind} here"
    found = [
        _input_difference(there.by_name.get(name), here.by_name.get(name), name, where)
        for name in [*there.by_name, *(n for n in here.by_name if n not in there.by_name)]
    ]
    differences = [text for text in found if text]
    return "; ".join(differences) or None


def _input_difference(
    there: InputSpec | None, here: InputSpec | None, name: str, where: str
) -> str | None:
    if here is None:
        return f"input {name!r} is in {where}, not here"
    if there is None:
        return f"input {name!r} is not in {where}, it is here"
    if there.datatype != here.datatype:
        return f"input {name!r} is {there.datatype} in {where}, {here.datatype} here"
    if there.shape != here.shape:
        return f"input {name!r} has shape {list(there.shape)} in {where}, {list(here.shape)} here"
    if there.required != here.required:
        kinds = {True: "required", False: "optional"}
        return f"input {name!r} is {kinds[there.required]} in {where}, {kinds[here.required]} here"
    return None
