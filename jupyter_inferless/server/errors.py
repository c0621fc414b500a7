"""Every error the server's layers raise on purpose: one hierarchy, and no HTTP statuses.

Each layer raises its own subclass, and ``str(error)`` is the message a client sees. The
HTTP edge (``http_errors.py``) holds the one table from these classes to an ErrorKind (the
body's ``kind``), and from kinds to statuses. The contract's errors belong to the same
tree, whose root is ``InferlessError`` (the client's errors have their own root,
``ClientError``)::

    InferlessError                      contract/errors.py
    ├── ModelNameError, InputError      contract: a model name or inputs break a rule
    └── ServerError
        ├── ModelLookupError            catalog
        │   └── ModelNotFound           no kernel serves the name
        ├── ModelStreams                handlers: a one-shot endpoint for a streaming model
        ├── TensorRequestError          binary_tensors: a binary body or outputs request
        ├── InputRejected               service: the kernel protocol cannot carry the inputs
        ├── Busy                        service: every replica's queue is full (retry_after)
        ├── KernelUnavailable           bridge: the kernel is not linked (retry_after)
        ├── EventsEvicted               broker: the events asked for left the replay buffer
        └── RunFailed                   service: the run ended with an in-band error (kind)
"""

from __future__ import annotations

from ..contract.errors import InferlessError
from ..protocol import ErrorKind, RunError


class ServerError(InferlessError):
    """A request the server refuses, or could not finish."""


class ModelLookupError(ServerError, LookupError):
    """The name names no served model."""


class ModelNotFound(ModelLookupError):
    """No kernel serves a model of that name."""


class ModelStreams(ServerError, ValueError):
    """A one-shot endpoint (infer, generate) was called for a model that streams its output."""


class TensorRequestError(ServerError, ValueError):
    """A binary body or an ``outputs`` request that cannot be served; the message says why."""


class InputRejected(ServerError, ValueError):
    """Inputs that fit the schema but that the kernel protocol cannot carry."""


class Busy(ServerError):
    """Every replica of the model runs and queues as many requests as it may; try later."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KernelUnavailable(ServerError):
    """The kernel serving the model is not linked (restarting, dying, or gone)."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EventsEvicted(ServerError, LookupError):
    """The events asked for were delivered and have left the replay buffer."""


class RunFailed(ServerError):
    """A run ended with an in-band error; ``kind`` says why."""

    def __init__(self, error: RunError) -> None:
        super().__init__(error["message"])
        self.kind: ErrorKind = error["kind"]
