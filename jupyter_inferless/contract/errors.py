"""Errors of the model contract, and the root of the package's errors.

Each names what was wrong and the rule it broke. ``InferlessError`` is the root of every
error the server, the kernel's runtime, the magics, export and the command line raise on
purpose (``server/errors.py`` draws the server's part of the tree). The client's errors,
what a caller of a served model is told, have their own root: ``ClientError``
(``_client_errors.py``).
"""

from __future__ import annotations


class InferlessError(Exception):
    """Base class of every error jupyter_inferless raises on purpose, but the client's."""


class SchemaError(InferlessError, ValueError):
    """An INPUT_SCHEMA breaks a rule."""


class InputError(InferlessError, ValueError):
    """A request's inputs do not fit the model's INPUT_SCHEMA."""

    def __init__(self, message: str, input_name: str | None = None) -> None:
        super().__init__(message)
        self.input_name = input_name


class OutputError(InferlessError, TypeError):
    """A model sent an output that is not JSON, or that drifts from the stream's first event."""


class ModelNameError(InferlessError, ValueError):
    """A model name breaks the naming rule (1-64 letters, digits, '.', '_' or '-')."""


class ModelContractError(InferlessError, TypeError):
    """A served object does not look like an InferlessPythonModel."""


class StreamFinishedError(InferlessError, RuntimeError):
    """send_streamed_output was called after the stream was finalised."""


class StreamCancelled(BaseException):
    """Raised inside the model by send_streamed_output once its request is cancelled.

    It derives from BaseException, like asyncio.CancelledError, so that a model's
    ``except Exception`` does not swallow it and the model's loop ends.
    """
