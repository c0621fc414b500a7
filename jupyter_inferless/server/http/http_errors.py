"""The one table from errors to kinds and HTTP statuses. Only the HTTP layer (the handlers)
and the kernels' own requests (which answer as HTTP would) read it.

Below the handlers nothing knows a status code: each layer raises its own error class
(``errors.py``), and a run that failed in-band carries an ErrorKind. Every refusal's body is
``{"error": str(error), "kind": KIND}``: the class decides the kind (``KIND``), the kind the
status (``STATUS``); ``retry_after`` becomes a Retry-After header. A tornado HTTPError
(a handler's, or jupyter_server's authentication) gets the kind of its status
(``STATUS_KIND``).
"""

from __future__ import annotations

from ...contract.errors import InputError, ModelNameError
from ...protocol import ErrorKind
from ..errors import (
    Busy,
    EventsEvicted,
    InputRejected,
    KernelUnavailable,
    ModelNotFound,
    ModelStreams,
    RunFailed,
    TensorRequestError,
)

KIND: dict[type[Exception], ErrorKind] = {
    ModelNameError: ErrorKind.BAD_REQUEST,
    TensorRequestError: ErrorKind.BAD_REQUEST,
    InputError: ErrorKind.INPUT_ERROR,
    InputRejected: ErrorKind.INPUT_ERROR,
    ModelStreams: ErrorKind.MODEL_STREAMS,
    ModelNotFound: ErrorKind.MODEL_NOT_FOUND,
    EventsEvicted: ErrorKind.EVENTS_EVICTED,
    Busy: ErrorKind.BUSY,
    KernelUnavailable: ErrorKind.KERNEL_UNAVAILABLE,
}
"""The kind of each error raised before a run starts (or instead of it)."""

STATUS: dict[ErrorKind, int] = {
    ErrorKind.BAD_REQUEST: 400,
    ErrorKind.INPUT_ERROR: 400,
    ErrorKind.MODEL_STREAMS: 400,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.MODEL_NOT_FOUND: 404,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.METHOD_NOT_ALLOWED: 405,
    ErrorKind.EVENTS_EVICTED: 410,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.BUSY: 429,
    ErrorKind.INTERNAL_ERROR: 500,
    ErrorKind.KERNEL_UNAVAILABLE: 503,
}
"""The status of a refusal of each kind."""

STATUS_KIND: dict[int, ErrorKind] = {
    400: ErrorKind.BAD_REQUEST,
    401: ErrorKind.FORBIDDEN,
    403: ErrorKind.FORBIDDEN,
    404: ErrorKind.NOT_FOUND,
    405: ErrorKind.METHOD_NOT_ALLOWED,
    410: ErrorKind.EVENTS_EVICTED,
    413: ErrorKind.TOO_LARGE,
    429: ErrorKind.BUSY,
    503: ErrorKind.KERNEL_UNAVAILABLE,
}
"""The kind of a tornado HTTPError, by its status; another 4xx is a ``bad_request``, another
5xx an ``internal_error``."""

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


def kind_of(error: BaseException) -> ErrorKind | None:
    """The kind of a refusal, or None when ``error`` is not one (a bug: 500)."""
    if isinstance(error, RunFailed):
        return error.kind
    for cls in type(error).__mro__:
        kind = KIND.get(cls)
        if kind is not None:
            return kind
    return None


def refusal_of(error: BaseException) -> tuple[int, ErrorKind] | None:
    """The status and kind answering ``error``, or None when it is not a refusal (a bug)."""
    kind = kind_of(error)
    if kind is None:
        return None
    return (RUN_STATUS if isinstance(error, RunFailed) else STATUS)[kind], kind


def status_of(error: BaseException) -> int | None:
    """The status answering ``error``, or None when it is not a refusal (a bug: 500)."""
    refusal = refusal_of(error)
    return None if refusal is None else refusal[0]


def kind_of_status(status: int) -> ErrorKind:
    """The kind of an error known only by its status (a tornado HTTPError)."""
    default = ErrorKind.BAD_REQUEST if status < 500 else ErrorKind.INTERNAL_ERROR
    return STATUS_KIND.get(status, default)


def retry_after(error: BaseException) -> int | None:
    """Seconds after which the client may try again, when the error says."""
    seconds = getattr(error, "retry_after", None)
    return seconds if isinstance(seconds, int) else None
