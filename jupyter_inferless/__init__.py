"""Serve Inferless streaming models from a Jupyter notebook.

In a notebook: ``%load_ext jupyter_inferless`` then ``%inferless serve MyModel``, or
:func:`serve` from Python. The Jupyter server then streams the model over
Inferless/Triton-compatible HTTP and SSE endpoints.

Importing this package is cheap: the kernel side (IPython) and the server side
(tornado) are imported only when used, and the server never imports torch. So are the
classes it exports (:class:`Served`, :class:`StreamCancelled`, :class:`StreamView`, and the
roots of the two error hierarchies: :class:`InferlessError`, what the package raises, and
:class:`ClientError`, what a client of a served model is told): their modules are imported
on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .contract.rules import DEFAULT_MAX_CONCURRENCY, DEFAULT_QUEUE_SIZE

if TYPE_CHECKING:
    from ._client_errors import ClientError
    from .contract import InferlessError, StreamCancelled
    from .kernel.served import Served
    from .widget import StreamView

__all__ = [
    "ClientError",
    "InferlessError",
    "Served",
    "StreamCancelled",
    "StreamView",
    "__version__",
    "connection",
    "device",
    "load_ipython_extension",
    "serve",
    "stop",
    "stream",
    "unload_ipython_extension",
]


def serve(
    target: Any,
    *,
    name: str | None = None,
    input_schema: dict[str, Any] | None = None,
    streaming: bool | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    queue_size: int = DEFAULT_QUEUE_SIZE,
) -> Served:
    """Initialise ``target`` in this kernel and serve it from the Jupyter server.

    ``target`` is an InferlessPythonModel class or instance, a name in the
    notebook, or a model directory (app.py, input_schema.py,
    inferless-runtime-config.yaml). INPUT_SCHEMA and IS_STREAMING_OUTPUT are read
    from where the class is defined unless given here. Serving a name again
    replaces the old model. At most ``max_concurrency`` requests run at once and
    ``queue_size`` more wait; beyond that the server answers 429 with Retry-After.
    """
    from .kernel.runtime import Runtime
    from .kernel.served import ServeOptions

    options = ServeOptions(name, input_schema, streaming, max_concurrency, queue_size)
    return Runtime.current().serve(target, options)


def stop(name: str) -> None:
    """Stop serving ``name``: cancel its requests and call its finalize()."""
    from .kernel.runtime import Runtime

    Runtime.current().stop(name)


def stream(name: str, /, **inputs: Any) -> StreamView:
    """Stream a served model inline: text as it arrives, a status line, a Stop button.

    Runs in the background over this kernel's link to its Jupyter server (no URL or
    token needed), so the cell returns at once; the view is shown and returned
    (``view.wait()``, ``view.text``).
    Inputs are checked against the model's INPUT_SCHEMA before the request is sent.
    """
    from .widget import stream as stream_view

    return stream_view(name, **inputs)


def connection(token: str | None = None) -> tuple[str, str]:
    """The attached Jupyter server's URL and a token, for HTTP clients in this kernel.

    The server hands its kernels no credential. The token is ``token``, else
    ``$JUPYTER_INFERLESS_TOKEN``, else ``$JUPYTER_TOKEN`` (a server started with
    ``JUPYTER_TOKEN`` set passes it on to the kernels it starts). Raises NoServerError when
    no server with the extension has linked to this kernel, and ClientError when there is
    no token.
    The inline view (:func:`stream`) needs neither: it streams over the kernel's link.
    """
    import os

    from ._client_errors import ClientError, NoServerError
    from .client import TOKEN_VARIABLES
    from .kernel.runtime import Runtime

    url = Runtime.current().server_url(wait=5.0)
    if url is None:
        raise NoServerError(
            "no Jupyter server with jupyter_inferless is attached to this kernel yet; "
            "serve a model first, from a kernel the server started"
        )
    token = token or next(filter(None, map(os.environ.get, TOKEN_VARIABLES)), None)
    if not token:
        raise ClientError(
            "no token for the Jupyter server: it gives its kernels none (with a password "
            "login or JupyterHub there may be none at all). Pass connection(token=...), or set "
            "JUPYTER_TOKEN (or JUPYTER_INFERLESS_TOKEN) in the environment the server starts "
            "its kernels with; jupyter_inferless.stream() needs no token"
        )
    return url, token


def device() -> Any:
    """The best torch device for this kernel: ``cuda`` when available, else ``cpu``."""
    from .kernel.device import device as best_device

    return best_device()


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext jupyter_inferless``."""
    from .magics import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    """``%unload_ext jupyter_inferless``."""
    from .magics import unload_ipython_extension as unload

    unload(shell)


def __getattr__(name: str) -> Any:
    """The exported classes, imported on first access so that importing the package
    stays cheap (PEP 562)."""
    value: Any
    if name == "ClientError":
        from ._client_errors import ClientError as value
    elif name == "InferlessError":
        from .contract import InferlessError as value
    elif name == "Served":
        from .kernel.served import Served as value
    elif name == "StreamCancelled":
        from .contract import StreamCancelled as value
    elif name == "StreamView":
        from .widget import StreamView as value
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Where jupyter_server finds the extension."""
    from .server.app import InferlessExtension

    return [{"module": "jupyter_inferless", "app": InferlessExtension}]
