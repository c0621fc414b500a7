"""The kernel <-> server comm protocol: a TypedDict per message, and the one function
that builds each, for both processes. Standard library only, no I/O.

Server → kernel, comm messages on a kernel subshell:
  comm_open data  open_data()       {protocol, server_url, text_frames, backlog: [request
                                    bytes, total bytes]}; the URL is only printed (endpoints,
                                    curl lines): no credential travels
  infer           infer()           {op, rid, model, inputs, credit: [events, bytes]}
  ack             ack()             {op, seq, credit: {rid: [events, bytes]}, resend}
  cancel          cancel()          {op, rid}
  replicas        replicas()        {op, models: {name: Verdict}}: what the server made of
                                    the kernel's models (replicas, refusal), sent again
                                    whenever that changes or a new generation is seen
  watched         watched()         {op, vid, rid, lines: [JSON text], ended, error, refused}:
                                    the new events of the kernel's watch ``vid`` (one message
                                    per wakeup; none new: a heartbeat), or its refusal
                                    {status, message} before any run
  listed          listed()          {op, qid, models}: the model list the kernel asked for
Kernel → server, on IOPub under the topic ``comm-<comm id>``:
  announce        announce()        {op, runtime, protocol}, on ANNOUNCE_COMM_ID
  hello           hello()           {op, runtime, models: [ModelDescription]}
  models          models_changed()  the same, after every serve or stop; each description
                                    carries its ``generation`` (a new one per serve)
  frame           frame()           {op, seq, runs: [Run]}, and one buffer of the events'
                                    JSON lines, each ended by a newline, in run order; with
                                    text_frames, those lines are the frame's ``text`` instead
                                    and no buffer travels (a gateway's relay of the notebook's
                                    own websocket passes no binary message)
  watch           watch()           {op, vid, model, inputs}: stream ``model`` to this
                                    kernel's view ``vid`` (the inline view), like a client
  unwatch         unwatch()         {op, vid}: cancel that run, like a DELETE
  list            list_models()     {op, qid}: ask for the model list (answered by listed)
A run that ends badly carries a RunError: its ErrorKind and the text clients see.
"""

from __future__ import annotations

import enum
from typing import Any, Literal, TypedDict

PROTOCOL_VERSION = 5
"""5: what the server sends in one turn of its loop goes as one ``batch``;
4: the kernel's views stream over the link (watch, list), no token in comm_open;
3: the server answers the models with replicas; 2: RunError {kind, ...}."""
TARGET_NAME = "jupyter_inferless"
ANNOUNCE_COMM_ID = "jupyter_inferless.announce"
LINK_COMM_PREFIX = "jupyter_inferless.link."
# The ZMQ topic of our comm messages: the server reads no other output of the kernel.
TOPIC_PREFIX = b"comm-jupyter_inferless"

DEFAULT_CREDIT_EVENTS = 16_384  # a request's credit: events and bytes ahead of its client
DEFAULT_CREDIT_BYTES = 8 * 1024 * 1024
# Past its credit, a request's events wait in the kernel, up to these bytes per request and
# for every request of a link (kernel/intake.py).
DEFAULT_REQUEST_BACKLOG_BYTES = 8 * 1024 * 1024
DEFAULT_BACKLOG_BYTES = 128 * 1024 * 1024


class ErrorKind(str, enum.Enum):
    """Why a run ended with an error. Clients get it as the in-band error's ``kind``."""

    MODEL_ERROR = "model_error"  # the model raised
    OUTPUT_ERROR = "output_error"  # an output was not JSON, or drifted from the first event
    CANCELLED = "cancelled"  # DELETE, no client within the grace period, model stopped
    KERNEL_GONE = "kernel_gone"  # the kernel died, restarted or shut down
    SERVER_SHUTDOWN = "server_shutdown"
    MODEL_NOT_FOUND = "model_not_found"  # the kernel no longer serves the model
    INPUT_ERROR = "input_error"  # inputs the kernel could not take
    EVENTS_EVICTED = "events_evicted"  # a slow reader fell out of the replay window


# How an error's text starts, by kind (model and output errors: the exception's type).
LABELS: dict[ErrorKind, str] = {
    ErrorKind.CANCELLED: "cancelled",
    ErrorKind.KERNEL_GONE: "KernelGone",
    ErrorKind.SERVER_SHUTDOWN: "ServerShutdown",
    ErrorKind.MODEL_NOT_FOUND: "ModelNotFound",
    ErrorKind.INPUT_ERROR: "InputError",
    ErrorKind.EVENTS_EVICTED: "EventsEvicted",
}


class RunError(TypedDict):
    """Why a run ended badly: its kind, and the text clients see ("Type: detail")."""

    kind: ErrorKind
    message: str


class OpenData(TypedDict):
    """The data of the server's ``comm_open``."""

    protocol: int
    server_url: str
    text_frames: bool
    backlog: list[int]  # bytes held past the credit: [per request, in all]; absent: defaults


class InferMessage(TypedDict):
    """Run one request; its events fill the stream ``rid``."""

    op: Literal["infer"]
    rid: str
    model: str
    inputs: dict[str, Any]
    credit: list[int]


class AckMessage(TypedDict):
    """Every frame up to ``seq`` arrived; more credit per request; resend the rest?"""

    op: Literal["ack"]
    seq: int
    credit: dict[str, list[int]]
    resend: bool


class CancelMessage(TypedDict):
    """Cancel a request down to the model's loop."""

    op: Literal["cancel"]
    rid: str


class Verdict(TypedDict):
    """What the server made of one served model: the generation it saw, how many kernels
    serve the name as one model (replicas), and why this kernel's is refused (or None)."""

    generation: int
    replicas: int
    refused: str | None


class ReplicasMessage(TypedDict):
    """The server's verdict on each of the kernel's models, by name."""

    op: Literal["replicas"]
    models: dict[str, Verdict]


class AnnounceMessage(TypedDict):
    """A kernel's runtime, waiting for a server to link."""

    op: Literal["announce"]
    runtime: str
    protocol: int


ModelDescription = TypedDict(
    "ModelDescription",
    {
        "name": str,
        "class": str,
        "source": str,
        "schema": dict[str, Any],
        "streaming": bool,
        "device": dict[str, Any],
        "max_concurrency": int,
        "queue_size": int,
        "status": str,
        "notes": list[str],
        "generation": int,
    },
)


class HelloMessage(TypedDict):
    """The kernel's answer to a comm_open: its runtime and its models."""

    op: Literal["hello"]
    runtime: str
    models: list[ModelDescription]


class ModelsMessage(TypedDict):
    """The kernel's models changed (serve or stop)."""

    op: Literal["models"]
    runtime: str
    models: list[ModelDescription]


class Run(TypedDict):
    """One request's share of a frame: ``events`` lines, then maybe its end."""

    rid: str
    events: int
    ended: bool
    error: RunError | None


class _Frame(TypedDict):
    op: Literal["frame"]
    seq: int
    runs: list[Run]


class FrameMessage(_Frame, total=False):
    """Events of one or more requests, in the order they were produced; ``text`` holds
    their lines when the link asked for text frames."""

    text: str


class WatchMessage(TypedDict):
    """The kernel asks the server to stream ``model`` with ``inputs`` to its view ``vid``."""

    op: Literal["watch"]
    vid: str
    model: str
    inputs: dict[str, Any]


class UnwatchMessage(TypedDict):
    """The kernel's view ``vid`` was stopped: cancel its run."""

    op: Literal["unwatch"]
    vid: str


class ListMessage(TypedDict):
    """The kernel asks for the served models; the answer is ``listed`` with its ``qid``."""

    op: Literal["list"]
    qid: str


class Refusal(TypedDict):
    """Why the server refused a watch before any run: the HTTP status a client would get
    for the same request, and the message."""

    status: int
    message: str


class WatchedMessage(TypedDict):
    """A watch's new events (JSON lines, in order), then its end (``ended``, ``error``);
    or, with ``refused``, its refusal. ``rid`` is the run's request id ("" when refused)."""

    op: Literal["watched"]
    vid: str
    rid: str
    lines: list[str]
    ended: bool
    error: RunError | None
    refused: Refusal | None


class ListedMessage(TypedDict):
    """The served models, as ``GET inferless/api/models`` lists them."""

    op: Literal["listed"]
    qid: str
    models: list[dict[str, Any]]


ServerMessage = (
    InferMessage | AckMessage | CancelMessage | ReplicasMessage | WatchedMessage | ListedMessage
)
"""What the server sends on the serving comm, alone or in a batch."""


class BatchMessage(TypedDict):
    """Several server messages in one comm message, to be handled in order.

    Every comm message costs the kernel a fixed ~1 ms (ipykernel's dispatch, status
    messages, flushes); a burst of requests in one batch pays it once.
    """

    op: Literal["batch"]
    messages: list[ServerMessage]


CommMessage = ServerMessage | BatchMessage
"""What the server puts in one comm message."""
KernelRequest = WatchMessage | UnwatchMessage | ListMessage
"""What the kernel asks the server for on the serving comm, for its own views."""


def run_error(kind: ErrorKind, detail: str) -> RunError:
    """An error of ``kind``; its text is ``"<label>: detail"`` (LABELS)."""
    label = LABELS.get(kind)
    return {"kind": kind, "message": f"{label}: {detail}" if label else detail}


def run_error_from(err: BaseException, kind: ErrorKind = ErrorKind.MODEL_ERROR) -> RunError:
    """An error a raised exception caused; its text is ``"Type: message"``."""
    return {"kind": kind, "message": f"{type(err).__name__}: {err}"}


def parse_run_error(raw: Any) -> RunError | None:
    """A run's error as received; a kind this version does not know is a model error."""
    if not raw:
        return None
    kind = next((k for k in ErrorKind if k.value == raw.get("kind")), ErrorKind.MODEL_ERROR)
    return {"kind": kind, "message": str(raw.get("message"))}


def open_data(
    server_url: str,
    text_frames: bool = False,
    backlog: tuple[int, int] | None = None,
) -> OpenData:
    """The server's comm_open data; ``text_frames`` asks for frames without a buffer,
    ``backlog`` bounds the bytes the kernel holds past the credit (per request, in all;
    None: the defaults)."""
    return {
        "protocol": PROTOCOL_VERSION,
        "server_url": server_url,
        "text_frames": text_frames,
        "backlog": list(backlog or (DEFAULT_REQUEST_BACKLOG_BYTES, DEFAULT_BACKLOG_BYTES)),
    }


def infer(rid: str, model: str, inputs: dict[str, Any], credit: tuple[int, int]) -> InferMessage:
    """Ask the kernel to run a request with a first credit of (events, bytes)."""
    return {"op": "infer", "rid": rid, "model": model, "inputs": inputs, "credit": list(credit)}


def batch(messages: list[ServerMessage]) -> BatchMessage:
    """Several messages, handled in order."""
    return {"op": "batch", "messages": messages}


def ack(seq: int, credit: dict[str, list[int]], resend: bool = False) -> AckMessage:
    """Acknowledge frames up to ``seq``, granting ``credit`` per request."""
    return {"op": "ack", "seq": seq, "credit": credit, "resend": resend}


def cancel(rid: str) -> CancelMessage:
    """Cancel a request."""
    return {"op": "cancel", "rid": rid}


def replicas(models: dict[str, Verdict]) -> ReplicasMessage:
    """The server's verdict on a kernel's models."""
    return {"op": "replicas", "models": models}


def verdict(generation: int, count: int, refused: str | None) -> Verdict:
    """One model's verdict: its generation, the replicas of its name, the refusal."""
    return {"generation": generation, "replicas": count, "refused": refused}


def announce(runtime: str) -> AnnounceMessage:
    """A runtime's announcement."""
    return {"op": "announce", "runtime": runtime, "protocol": PROTOCOL_VERSION}


def hello(runtime: str, models: list[ModelDescription]) -> HelloMessage:
    """The kernel's first message on a new link."""
    return {"op": "hello", "runtime": runtime, "models": models}


def models_changed(runtime: str, models: list[ModelDescription]) -> ModelsMessage:
    """The kernel's models after a serve or stop."""
    return {"op": "models", "runtime": runtime, "models": models}


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
    from the next, so the server's verdict can be matched to it."""
    return {
        "name": name,
        "class": class_name,
        "source": source,
        "schema": schema,
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
    message: FrameMessage = {"op": "frame", "seq": seq, "runs": runs}
    if text is not None:
        message["text"] = text
    return message


def watch(vid: str, model: str, inputs: dict[str, Any]) -> WatchMessage:
    """Ask the server to stream ``model`` to the kernel's view ``vid``."""
    return {"op": "watch", "vid": vid, "model": model, "inputs": inputs}


def unwatch(vid: str) -> UnwatchMessage:
    """Ask the server to cancel the run of view ``vid``."""
    return {"op": "unwatch", "vid": vid}


def list_models(qid: str) -> ListMessage:
    """Ask the server for its model list."""
    return {"op": "list", "qid": qid}


def refusal(status: int, message: str) -> Refusal:
    """A watch refused before its run: the status an HTTP client would get, and why."""
    return {"status": status, "message": message}


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
        "vid": vid,
        "rid": rid,
        "lines": lines,
        "ended": ended or refused is not None,
        "error": error,
        "refused": refused,
    }


def listed(qid: str, models: list[dict[str, Any]]) -> ListedMessage:
    """The answer to ``list``."""
    return {"op": "listed", "qid": qid, "models": models}
