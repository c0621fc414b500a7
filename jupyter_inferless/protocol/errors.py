"""Why a run ended badly: ``ErrorKind``, and the ``RunError`` both sides send and show."""

from __future__ import annotations

import enum
from typing import TypedDict


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


def run_error(kind: ErrorKind, detail: str) -> RunError:
    """An error of ``kind``; its text is ``"<label>: detail"`` (LABELS)."""
    label = LABELS.get(kind)
    return {"kind": kind, "message": f"{label}: {detail}" if label else detail}


def run_error_from(err: BaseException, kind: ErrorKind = ErrorKind.MODEL_ERROR) -> RunError:
    """An error a raised exception caused; its text is ``"Type: message"``."""
    return {"kind": kind, "message": f"{type(err).__name__}: {err}"}
