"""The one table from errors to HTTP statuses. Only the HTTP layer (the handlers) reads it.

Below the handlers nothing knows a status code: each layer raises its own error class
(``errors.py``), and a run that failed in-band carries an ErrorKind. The body is always
``{"error": str(error)}``; ``retry_after`` becomes a Retry-After header.
"""

from __future__ import annotations

from ...contract.errors import InputError, ModelNameError
from ...protocol import ErrorKind
from ..errors import (
    Busy,
    InputRejected,
    KernelUnavailable,
    ModelNotFound,
    RunFailed,
    TensorRequestError,
)

STATUS: dict[type[Exception], int] = {
    ModelNameError: 400,
    InputError: 400,
    TensorRequestError: 400,
    InputRejected: 400,
    ModelNotFound: 404,
    Busy: 429,
    KernelUnavailable: 503,
}
"""Errors raised before a run starts (or instead of it)."""

RUN_STATUS: dict[ErrorKind, int] = {
    ErrorKind.MODEL_ERROR: 400,  # like Triton: a failed inference is a 400
    ErrorKind.OUTPUT_ERROR: 400,
    ErrorKind.INPUT_ERROR: 400,
    ErrorKind.MODEL_NOT_FOUND: 400,
    ErrorKind.EVENTS_EVICTED: 400,
    ErrorKind.SERVER_SHUTDOWN: 400,
    ErrorKind.CANCELLED: 503,  # the run never got to finish
    ErrorKind.KERNEL_GONE: 503,
}
"""How /infer and /generate answer a run that ended with an in-band error of each kind."""


def status_of(error: BaseException) -> int | None:
    """The status answering ``error``, or None when it is not a refusal (a bug: 500)."""
    if isinstance(error, RunFailed):
        return RUN_STATUS[error.kind]
    for cls in type(error).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return None


def retry_after(error: BaseException) -> int | None:
    """Seconds after which the client may try again, when the error says."""
    seconds = getattr(error, "retry_after", None)
    return seconds if isinstance(seconds, int) else None
