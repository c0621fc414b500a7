"""The one table from errors to kinds and HTTP statuses (server/http/http_errors.py), as tables."""

from __future__ import annotations

import pytest

from jupyter_inferless.contract import InputError, ModelNameError
from jupyter_inferless.protocol import IN_BAND, ErrorKind, run_error
from jupyter_inferless.server import errors
from jupyter_inferless.server.http import http_errors
from jupyter_inferless.server.openapi import parts

K = ErrorKind


@pytest.mark.parametrize(
    ("error", "kind", "status", "retry_after"),
    [
        (ModelNameError("invalid model name"), K.BAD_REQUEST, 400, None),
        (errors.TensorRequestError("bad header"), K.BAD_REQUEST, 400, None),
        (InputError("missing required input 'n'"), K.INPUT_ERROR, 400, None),
        (errors.InputRejected("the inputs cannot be sent"), K.INPUT_ERROR, 400, None),
        (errors.ModelStreams("model 'x' streams its output"), K.MODEL_STREAMS, 400, None),
        (errors.ModelNotFound("no model named 'x' is served"), K.MODEL_NOT_FOUND, 404, None),
        (errors.EventsEvicted("events 0-9 are gone"), K.EVENTS_EVICTED, 410, None),
        (errors.Busy("model 'x' is busy"), K.BUSY, 429, 1),
        (errors.Busy("later", retry_after=5), K.BUSY, 429, 5),
        (errors.KernelUnavailable("kernel k is not linked"), K.KERNEL_UNAVAILABLE, 503, 1),
    ],
)
def test_refusals(error: Exception, kind: ErrorKind, status: int, retry_after: int | None) -> None:
    assert http_errors.kind_of(error) is kind
    assert http_errors.status_of(error) == status
    assert http_errors.refusal_of(error) == (status, kind)
    assert http_errors.retry_after(error) == retry_after


@pytest.mark.parametrize(
    "error", [RuntimeError("a bug"), KeyError("x"), ValueError("not ours"), errors.ServerError()]
)
def test_what_is_not_a_refusal_has_no_kind(error: Exception) -> None:
    """A bug is a 500 (the base handler says ``internal_error``), not a refusal."""
    assert http_errors.kind_of(error) is None
    assert http_errors.status_of(error) is None
    assert http_errors.refusal_of(error) is None


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (K.MODEL_ERROR, 400),
        (K.OUTPUT_ERROR, 400),
        (K.INPUT_ERROR, 400),
        (K.MODEL_NOT_FOUND, 400),
        (K.EVENTS_EVICTED, 400),
        (K.SERVER_SHUTDOWN, 400),
        (K.CANCELLED, 503),
        (K.KERNEL_GONE, 503),
    ],
)
def test_a_failed_run_answers_by_its_kind(kind: ErrorKind, status: int) -> None:
    failed = errors.RunFailed(run_error(kind, "detail"))
    assert http_errors.refusal_of(failed) == (status, kind)
    assert http_errors.retry_after(failed) is None
    assert str(failed) == run_error(kind, "detail")["message"]


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (K.BAD_REQUEST, 400),
        (K.INPUT_ERROR, 400),
        (K.MODEL_STREAMS, 400),
        (K.FORBIDDEN, 403),
        (K.MODEL_NOT_FOUND, 404),
        (K.NOT_FOUND, 404),
        (K.METHOD_NOT_ALLOWED, 405),
        (K.EVENTS_EVICTED, 410),
        (K.TOO_LARGE, 413),
        (K.BUSY, 429),
        (K.INTERNAL_ERROR, 500),
        (K.KERNEL_UNAVAILABLE, 503),
    ],
)
def test_a_refusal_answers_by_its_kind(kind: ErrorKind, status: int) -> None:
    assert http_errors.STATUS[kind] == status


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, K.BAD_REQUEST),
        (401, K.FORBIDDEN),
        (403, K.FORBIDDEN),
        (404, K.NOT_FOUND),
        (405, K.METHOD_NOT_ALLOWED),
        (410, K.EVENTS_EVICTED),
        (413, K.TOO_LARGE),
        (415, K.BAD_REQUEST),  # another 4xx
        (429, K.BUSY),
        (500, K.INTERNAL_ERROR),
        (502, K.INTERNAL_ERROR),  # another 5xx
        (503, K.KERNEL_UNAVAILABLE),
    ],
)
def test_an_http_error_gets_the_kind_of_its_status(status: int, kind: ErrorKind) -> None:
    assert http_errors.kind_of_status(status) is kind


def test_every_kind_has_a_status_and_the_tables_agree() -> None:
    """A run ends with an in-band kind; everything else is a refusal before a run; and a
    status's kind answers with that status again."""
    assert set(http_errors.RUN_STATUS) == set(IN_BAND)
    assert set(http_errors.STATUS) | set(IN_BAND) == set(ErrorKind)
    assert set(http_errors.KIND.values()) <= set(http_errors.STATUS)
    for status, kind in http_errors.STATUS_KIND.items():
        assert http_errors.STATUS[kind] == status or (status, kind) == (401, K.FORBIDDEN)


def test_below_the_http_layer_nothing_knows_a_status() -> None:
    for name in dir(errors):
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert not hasattr(value, "status") and not hasattr(value, "status_code"), name


def test_every_server_error_class_has_a_kind() -> None:
    """Every refusal class of ``errors.py`` is in the table (RunFailed: by its run's kind)."""
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type)
        and issubclass(value, errors.ServerError)
        and value not in (errors.ServerError, errors.ModelLookupError, errors.RunFailed)
    ]
    assert classes and all(cls in http_errors.KIND for cls in classes), classes


def test_the_openapi_document_lists_every_kind() -> None:
    """The error body's ``kind`` is the ErrorKind enum; the in-band error's, its IN_BAND part."""
    schemas = parts.components()["schemas"]
    assert schemas["ErrorKind"]["enum"] == [kind.value for kind in ErrorKind]
    assert schemas["InBandErrorKind"]["enum"] == [kind.value for kind in IN_BAND]
    assert schemas["Error"]["required"] == ["error", "kind"]
    assert schemas["Error"]["properties"]["kind"] == {"$ref": "#/components/schemas/ErrorKind"}
    in_band = schemas["InBandError"]["properties"]
    assert in_band["kind"] == {"$ref": "#/components/schemas/InBandErrorKind"}
    assert set(in_band) == {"error", "kind", "type"}
