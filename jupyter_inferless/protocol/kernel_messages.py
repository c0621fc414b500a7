"""What the kernel sends the server: a TypedDict per message, and the one builder of each.

The kernel publishes them on IOPub under the topic ``comm-<comm id>``: ``announce`` on
``ANNOUNCE_COMM_ID`` while no server is linked, the others on the comm the server opened.
Each TypedDict is also the rule its message is checked by when it arrives (``decode.py``).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from . import constants
from .errors import RunError
from .server_messages import Count


class AnnounceMessage(TypedDict):
    """A kernel's runtime, waiting for a server to link, and its models by name and
    generation. Its fields never change: a server of another version reads them to say
    which models it refuses (and a refused kernel sends it on that link when they change)."""

    op: Literal["announce"]
    protocol: int
    runtime: str
    models: dict[str, int]


class _InputJSON(TypedDict):
    name: str
    datatype: str
    shape: list[int]
    required: bool


class InputJSON(_InputJSON, total=False):
    """One input of a model's schema, as ``contract.InputSpec.to_json`` writes it."""

    example: list[Any]


class SchemaJSON(TypedDict):
    """A model's schema, as ``contract.ModelSchema.to_json`` writes it."""

    inputs: list[InputJSON]
    streaming: bool
    declared: bool


ModelDescription = TypedDict(
    "ModelDescription",
    {
        "name": str,
        "class": str,
        "source": str,
        "schema": SchemaJSON,
        "streaming": bool,
        "device": dict[str, Any],
        "max_concurrency": Count,
        "queue_size": Count,
        "status": str,
        "notes": list[str],
        "generation": int,
    },
)


class HelloMessage(TypedDict):
    """The kernel's answer to a comm_open: its runtime and its models."""

    op: Literal["hello"]
    protocol: int
    runtime: str
    models: list[ModelDescription]


class ModelsMessage(TypedDict):
    """The kernel's models changed (serve or stop); each description carries its
    ``generation`` (a new one per serve)."""

    op: Literal["models"]
    protocol: int
    runtime: str
    models: list[ModelDescription]


class Run(TypedDict):
    """One request's share of a frame: ``events`` lines, then maybe its end."""

    rid: str
    events: Count
    ended: bool
    error: RunError | None


class _Frame(TypedDict):
    op: Literal["frame"]
    protocol: int
    seq: Count
    runs: list[Run]


class FrameMessage(_Frame, total=False):
    """Events of one or more requests, in the order they were produced: one buffer of
    their JSON lines, each ended by a newline, travels beside it; ``text`` holds the
    lines instead when the link asked for text frames."""

    text: str


class WatchMessage(TypedDict):
    """The kernel asks the server to stream ``model`` with ``inputs`` to its view ``vid``
    (the inline view), like a client."""

    op: Literal["watch"]
    protocol: int
    vid: str
    model: str
    inputs: dict[str, Any]


class UnwatchMessage(TypedDict):
    """The kernel's view ``vid`` was stopped: cancel its run, like a DELETE."""

    op: Literal["unwatch"]
    protocol: int
    vid: str


class ListMessage(TypedDict):
    """The kernel asks for the served models; the answer is ``listed`` with its ``qid``."""

    op: Literal["list"]
    protocol: int
    qid: str


KernelRequest = WatchMessage | UnwatchMessage | ListMessage
"""What the kernel asks the server for on the serving comm, for its own views."""
KernelMessage = AnnounceMessage | HelloMessage | ModelsMessage | FrameMessage | KernelRequest
"""Everything the kernel sends."""


def announce(runtime: str, models: dict[str, int]) -> AnnounceMessage:
    """A runtime's announcement, with its models' generations by name."""
    version = constants.PROTOCOL_VERSION
    return {"op": "announce", "protocol": version, "runtime": runtime, "models": models}


def hello(runtime: str, models: list[ModelDescription]) -> HelloMessage:
    """The kernel's first message on a new link."""
    version = constants.PROTOCOL_VERSION
    return {"op": "hello", "protocol": version, "runtime": runtime, "models": models}


def models_changed(runtime: str, models: list[ModelDescription]) -> ModelsMessage:
    """The kernel's models after a serve or stop."""
    version = constants.PROTOCOL_VERSION
    return {"op": "models", "protocol": version, "runtime": runtime, "models": models}


def model_description(
    *,
    name: str,
    class_name: str,
    source: str,
    schema: dict[str, Any],
    streaming: bool,
    device: dict[str, Any],
    max_concurrency: int,
    queue_size: int,
    notes: list[str],
    generation: int = 0,
) -> ModelDescription:
    """A served model, as the server lists it; ``generation`` tells one serve of the name
    from the next, so the server's verdict can be matched to it. ``schema`` is
    ``ModelSchema.to_json()``."""
    return {
        "name": name,
        "class": class_name,
        "source": source,
        "schema": SchemaJSON(
            inputs=schema["inputs"], streaming=schema["streaming"], declared=schema["declared"]
        ),
        "streaming": streaming,
        "device": device,
        "max_concurrency": max_concurrency,
        "queue_size": queue_size,
        "status": "ready",
        "notes": notes,
        "generation": generation,
    }


def run(rid: str) -> Run:
    """A request's run in a frame, before any event is counted."""
    return {"rid": rid, "events": 0, "ended": False, "error": None}


def frame(seq: int, runs: list[Run], text: str | None = None) -> FrameMessage:
    """Frame ``seq``; its events travel in one buffer beside it, or as its ``text``."""
    message: FrameMessage = {
        "op": "frame",
        "protocol": constants.PROTOCOL_VERSION,
        "seq": seq,
        "runs": runs,
    }
    if text is not None:
        message["text"] = text
    return message


def watch(vid: str, model: str, inputs: dict[str, Any]) -> WatchMessage:
    """Ask the server to stream ``model`` to the kernel's view ``vid``."""
    version = constants.PROTOCOL_VERSION
    return {"op": "watch", "protocol": version, "vid": vid, "model": model, "inputs": inputs}


def unwatch(vid: str) -> UnwatchMessage:
    """Ask the server to cancel the run of view ``vid``."""
    return {"op": "unwatch", "protocol": constants.PROTOCOL_VERSION, "vid": vid}


def list_models(qid: str) -> ListMessage:
    """Ask the server for its model list."""
    return {"op": "list", "protocol": constants.PROTOCOL_VERSION, "qid": qid}
