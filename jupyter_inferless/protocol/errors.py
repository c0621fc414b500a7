"""Why a request failed: ``ErrorKind``, and the ``RunError`` both sides send and show.

One enum names every failure a client is told of: the kinds a run ends with in-band
(``IN_BAND``), and the refusals answered before a run (``{"error": TEXT, "kind": KIND}``).
Some kinds are both (``input_error``, ``model_not_found``, ``events_evicted``).
"""

from __future__ import annotations

import enum
from typing import TypedDict


class ErrorKind(str, enum.Enum):
    """Why a request failed. Clients get it as an error body's, or an in-band error's, ``kind``."""

    # A run's end (in-band), and some refusals too.
    MODEL_ERROR = "model_error"  # the model raised
    OUTPUT_ERROR = "output_error"  # an output was not JSON, or drifted from the first event
    CANCELLED = "cancelled"  # DELETE, no client within the grace period, model stopped
    KERNEL_GONE = "kernel_gone"  # the kernel died, restarted or shut down
    SERVER_SHUTDOWN = "server_shutdown"
    MODEL_NOT_FOUND = "model_not_found"  # no kernel serves the model (any more)
    INPUT_ERROR = "input_error"  # inputs that break the schema, or that the kernel cannot take
    EVENTS_EVICTED = "events_evicted"  # the events asked for left the replay window
    # Refusals before a run only.
    BAD_REQUEST = "bad_request"  # the body, a header, the event id or the model name is malformed
    MODEL_STREAMS = "model_streams"  # a one-shot endpoint (infer, generate) for a streaming model
    NOT_FOUND = "not_found"  # no such endpoint or stream
    FORBIDDEN = "forbidden"  # not authenticated, not authorised, or cross-site
    METHOD_NOT_ALLOWED = "method_not_allowed"
    TOO_LARGE = "too_large"  # the body is larger than the server accepts
    BUSY = "busy"  # every replica's queue is full: retry after Retry-After
    KERNEL_UNAVAILABLE = "kernel_unavailable"  # the kernel is not linked: retry after Retry-After
    INTERNAL_ERROR = "internal_error"  # a bug of the server (500); its log says more


IN_BAND: tuple[ErrorKind, ...] = (
    ErrorKind.MODEL_ERROR,
    ErrorKind.OUTPUT_ERROR,
    ErrorKind.CANCELLED,
    ErrorKind.KERNEL_GONE,
    ErrorKind.SERVER_SHUTDOWN,
    ErrorKind.MODEL_NOT_FOUND,
    ErrorKind.INPUT_ERROR,
    ErrorKind.EVENTS_EVICTED,
)
"""The kinds a run ends with (a ``RunError``'s), in order: what the stream views know."""

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
    """Why a run ended badly: its kind, its type (the exception's, else the kind's label;
    "" when neither), and the text clients see ("Type: detail")."""

    kind: ErrorKind
    type: str
    message: str


def run_error(kind: ErrorKind, detail: str) -> RunError:
    """An error of ``kind``; its type is the kind's label and its text ``"<label>: detail"``
    (LABELS); a kind without a label has type "" and the text ``detail``."""
    label = LABELS.get(kind, "")
    return {"kind": kind, "type": label, "message": f"{label}: {detail}" if label else detail}


def run_error_from(err: BaseException, kind: ErrorKind = ErrorKind.MODEL_ERROR) -> RunError:
    """An error a raised exception caused; its type is the exception's class name and its
    text ``"Type: message"``."""
    name = type(err).__name__
    return {"kind": kind, "type": name, "message": f"{name}: {err}"}
