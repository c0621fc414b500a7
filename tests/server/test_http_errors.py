"""The one table from errors to HTTP statuses (server/http/http_errors.py), as a table."""

from __future__ import annotations

import pytest

from jupyter_inferless.contract import InputError, ModelNameError
from jupyter_inferless.protocol import ErrorKind, run_error
from jupyter_inferless.server import errors
from jupyter_inferless.server.http import http_errors


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (ModelNameError("invalid model name"), 400, None),
        (InputError("missing required input 'n'"), 400, None),
        (errors.TensorRequestError("bad header"), 400, None),
        (errors.InputRejected("the inputs cannot be sent to the kernel"), 400, None),
        (errors.ModelNotFound("no model named 'x' is served"), 404, None),
        (errors.Busy("model 'x' is busy"), 429, 1),
        (errors.KernelUnavailable("kernel k is not linked"), 503, 1),
        (errors.Busy("later", retry_after=5), 429, 5),
        (RuntimeError("a bug"), None, None),
        (errors.EventsEvicted("in-band only"), None, None),
    ],
)
def test_refusals(error: Exception, status: int | None, retry_after: int | None) -> None:
    assert http_errors.status_of(error) == status
    assert http_errors.retry_after(error) == retry_after


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (ErrorKind.MODEL_ERROR, 400),
        (ErrorKind.OUTPUT_ERROR, 400),
        (ErrorKind.INPUT_ERROR, 400),
        (ErrorKind.MODEL_NOT_FOUND, 400),
        (ErrorKind.EVENTS_EVICTED, 400),
        (ErrorKind.SERVER_SHUTDOWN, 400),
        (ErrorKind.CANCELLED, 503),
        (ErrorKind.KERNEL_GONE, 503),
    ],
)
def test_a_failed_run_answers_by_its_kind(kind: ErrorKind, status: int) -> None:
    failed = errors.RunFailed(run_error(kind, "detail"))
    assert http_errors.status_of(failed) == status
    assert http_errors.retry_after(failed) is None
    assert str(failed) == run_error(kind, "detail")["message"]


def test_every_kind_has_a_status() -> None:
    assert set(http_errors.RUN_STATUS) == set(ErrorKind)


def test_below_the_http_layer_nothing_knows_a_status() -> None:
    for name in dir(errors):
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert not hasattr(value, "status") and not hasattr(value, "status_code"), name
