"""Every error class of the package joins one of the two roots: ``InferlessError`` (what the
package raises: contract, server, kernel runtime, magics, export, command line) or
``ClientError`` (what a client of a served model is told), never both."""

from __future__ import annotations

import importlib
from pathlib import Path

import jupyter_inferless
from jupyter_inferless import ClientError, InferlessError

PACKAGE = Path(jupyter_inferless.__file__).parent

INTERNAL = {
    "jupyter_inferless._client_resume.TryAgain": "a resume to try again, caught by the reader",
    "jupyter_inferless.server.decode.decoding._Refused": "a refusal pickled out of a process",
    "jupyter_inferless.server.http.sse.EventIdError": "caught by the handlers, answered 400",
    "jupyter_inferless.export.expressions.NotStatic": "caught by export, which says why",
    "jupyter_inferless.protocol.checks.Invalid": "caught by the decoder, raised as ProtocolError",
    "jupyter_inferless.protocol.decode.ProtocolError": "the protocol imports only the stdlib",
    "jupyter_inferless.protocol.decode.VersionMismatch": "a ProtocolError",
}
"""Exceptions that stand outside both roots, and why."""


def error_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of the package, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] in ("labextension", "demo"):
            continue
        name = ".".join(["jupyter_inferless", *parts]).removesuffix(".__init__")
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Exception)
                and not issubclass(value, Warning)
                and value.__module__ == module.__name__
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_error_class_joins_one_root() -> None:
    classes = error_classes()
    assert set(INTERNAL) <= set(classes), set(INTERNAL) - set(classes)
    outside = [
        name
        for name, cls in classes.items()
        if name not in INTERNAL and not issubclass(cls, (InferlessError, ClientError))
    ]
    assert outside == []
    both = [
        name
        for name, cls in classes.items()
        if issubclass(cls, InferlessError) and issubclass(cls, ClientError)
    ]
    assert both == []


def test_each_side_has_its_errors() -> None:
    classes = error_classes()
    client = {cls.__name__ for cls in classes.values() if issubclass(cls, ClientError)}
    assert client == {
        "ClientError",
        "RequestRejected",
        "ModelError",
        "StreamError",
        "NoServerError",
    }
    package = {cls.__name__ for cls in classes.values() if issubclass(cls, InferlessError)}
    joined = {"ExportError", "HeadlessError", "MagicUsageError", "ReplicaRefused", "Busy"}
    assert joined <= package, joined - package
