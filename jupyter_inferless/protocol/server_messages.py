"""What the server sends the kernel: a TypedDict per message, and the one builder of each.

The server opens the serving comm with ``OpenData``; every message after it goes on that
comm, alone or several in a ``batch``. Each TypedDict is also the rule its message is
checked by when it arrives (``decode.py``); ``Annotated`` adds what a type cannot say.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from . import constants
from .checks import AtLeast, Length
from .errors import ErrorKind, RunError

Pair = Annotated[list[int], Length(2), AtLeast(0)]
"""Two counts: a credit's [events, bytes], a backlog's [per request, in all] bytes."""
Count = Annotated[int, AtLeast(0)]


class OpenData(TypedDict):
    """The data of the server's ``comm_open``. The URL is only printed (endpoints, curl
    lines): no credential travels."""

    protocol: int
    server_url: str
    text_frames: bool  # frames without a buffer: a gateway's relay passes no binary message
    backlog: Pair  # bytes held past the credit: [per request, in all]


class InferMessage(TypedDict):
    """Run one request; its events fill the stream ``rid``."""

    op: Literal["infer"]
    protocol: int
    rid: str
    model: str
    inputs: dict[str, Any]
    credit: Pair


class AckMessage(TypedDict):
    """Every frame up to ``seq`` arrived; more credit per request; resend the rest?"""

    op: Literal["ack"]
    protocol: int
    seq: Count
    credit: dict[str, Pair]
    resend: bool


class CancelMessage(TypedDict):
    """Cancel a request down to the model's loop."""

    op: Literal["cancel"]
    protocol: int
    rid: str


class Verdict(TypedDict):
    """What the server made of one served model: the generation it saw, how many kernels
    serve the name as one model (replicas), and why this kernel's is refused (or None)."""

    generation: int
    replicas: Count
    refused: str | None


class ReplicasMessage(TypedDict):
    """The server's verdict on each of the kernel's models, by name: sent again whenever
    that changes or a new generation is seen."""

    op: Literal["replicas"]
    protocol: int
    models: dict[str, Verdict]


class RefusedMessage(TypedDict):
    """The server refuses a kernel of another protocol version (``reason`` names both) and
    every model it announced, by name and generation. Its fields never change."""

    op: Literal["refused"]
    protocol: int
    reason: str
    models: dict[str, int]


class Refusal(TypedDict):
    """Why the server refused a watch before any run: the HTTP status and the kind a client
    would get for the same request, and the message."""

    status: int
    kind: ErrorKind
    message: str


class WatchedMessage(TypedDict):
    """A watch's new events (JSON lines, in order), then its end (``ended``, ``error``);
    or, with ``refused``, its refusal. ``rid`` is the run's request id ("" when refused).
    One message per wakeup; none new: a heartbeat."""

    op: Literal["watched"]
    protocol: int
    vid: str
    rid: str
    lines: list[str]
    ended: bool
    error: RunError | None
    refused: Refusal | None


class ListedMessage(TypedDict):
    """The served models, as ``GET inferless/api/models`` lists them."""

    op: Literal["listed"]
    protocol: int
    qid: str
    models: list[dict[str, Any]]


ServerMessage = (
    InferMessage
    | AckMessage
    | CancelMessage
    | ReplicasMessage
    | RefusedMessage
    | WatchedMessage
    | ListedMessage
)
"""What the server sends on the serving comm, alone or in a batch."""


class BatchMessage(TypedDict):
    """Several server messages in one comm message, to be handled in order.

    Every comm message costs the kernel a fixed ~1 ms (ipykernel's dispatch, status
    messages, flushes); a burst of requests in one batch pays it once.
    """

    op: Literal["batch"]
    protocol: int
    messages: list[ServerMessage]


CommMessage = ServerMessage | BatchMessage
"""What the server puts in one comm message."""


def open_data(
    server_url: str,
    text_frames: bool = False,
    backlog: tuple[int, int] | None = None,
) -> OpenData:
    """The server's comm_open data; ``text_frames`` asks for frames without a buffer,
    ``backlog`` bounds the bytes the kernel holds past the credit (per request, in all;
    None: the defaults)."""
    defaults = (constants.DEFAULT_REQUEST_BACKLOG_BYTES, constants.DEFAULT_BACKLOG_BYTES)
    return {
        "protocol": constants.PROTOCOL_VERSION,
        "server_url": server_url,
        "text_frames": text_frames,
        "backlog": list(backlog or defaults),
    }


def infer(rid: str, model: str, inputs: dict[str, Any], credit: tuple[int, int]) -> InferMessage:
    """Ask the kernel to run a request with a first credit of (events, bytes)."""
    version = constants.PROTOCOL_VERSION
    return {
        "op": "infer",
        "protocol": version,
        "rid": rid,
        "model": model,
        "inputs": inputs,
        "credit": list(credit),
    }


def batch(messages: list[ServerMessage]) -> BatchMessage:
    """Several messages, handled in order."""
    return {"op": "batch", "protocol": constants.PROTOCOL_VERSION, "messages": messages}


def ack(seq: int, credit: dict[str, list[int]], resend: bool = False) -> AckMessage:
    """Acknowledge frames up to ``seq``, granting ``credit`` per request."""
    version = constants.PROTOCOL_VERSION
    return {"op": "ack", "protocol": version, "seq": seq, "credit": credit, "resend": resend}


def cancel(rid: str) -> CancelMessage:
    """Cancel a request."""
    return {"op": "cancel", "protocol": constants.PROTOCOL_VERSION, "rid": rid}


def replicas(models: dict[str, Verdict]) -> ReplicasMessage:
    """The server's verdict on a kernel's models."""
    return {"op": "replicas", "protocol": constants.PROTOCOL_VERSION, "models": models}


def verdict(generation: int, count: int, refused: str | None) -> Verdict:
    """One model's verdict: its generation, the replicas of its name, the refusal."""
    return {"generation": generation, "replicas": count, "refused": refused}


def refused(reason: str, models: dict[str, int]) -> RefusedMessage:
    """The refusal of a kernel of another protocol version, and of the models it announced."""
    version = constants.PROTOCOL_VERSION
    return {"op": "refused", "protocol": version, "reason": reason, "models": models}


def refusal(status: int, kind: ErrorKind, message: str) -> Refusal:
    """A watch refused before its run: the status and kind an HTTP client would get, and why."""
    return {"status": status, "kind": kind, "message": message}


def watched(
    vid: str,
    rid: str,
    lines: list[str],
    *,
    ended: bool = False,
    error: RunError | None = None,
    refused: Refusal | None = None,
) -> WatchedMessage:
    """New events of view ``vid``'s run ``rid``, maybe its end; or its refusal."""
    return {
        "op": "watched",
        "protocol": constants.PROTOCOL_VERSION,
        "vid": vid,
        "rid": rid,
        "lines": lines,
        "ended": ended or refused is not None,
        "error": error,
        "refused": refused,
    }


def listed(qid: str, models: list[dict[str, Any]]) -> ListedMessage:
    """The answer to ``list``."""
    return {"op": "listed", "protocol": constants.PROTOCOL_VERSION, "qid": qid, "models": models}
