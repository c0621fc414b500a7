"""Timing hooks for first_event.py, in the Jupyter server and in the kernel (benchmark only).

A hook wraps one function of tornado, jupyter_server, ipykernel or jupyter_inferless in
place and notes ``(time.monotonic_ns(), name)``: ``NAME>`` when the function starts and
``NAME<`` when it returns, or only ``NAME`` for a start. Marks are kept while ``STATE.on``;
otherwise a hook only calls through. The server, the kernel and the benchmark's client
run on one machine and read the same CLOCK_MONOTONIC, so their marks compare directly.
Nothing here changes what a wrapped function does or returns.

- Server: a server extension (``--ServerApp.jpserver_extensions`` naming this module, this
  folder on PYTHONPATH). ``POST /first-event-hooks`` with ``{"on": bool}`` turns the marks
  on or off and clears them; ``GET`` returns them (``[[ns, name], ...]``) and clears them.
- Kernel: ``install_kernel()``, run in the kernel before ``%load_ext jupyter_inferless`` (a
  link's comm and subshell are made later, with the hooks in place); ``take()`` and
  ``STATE`` the same way, through code run in the kernel.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import Callable
from typing import Any

MARKS: list[tuple[int, str]] = []
_now = time.monotonic_ns
_OURS = b"comm-jupyter_inferless.link."  # the IOPub topic of a link's frames
ROUTE = "first-event-hooks"


class _State:
    on = False


STATE = _State()


def mark(name: str) -> None:
    """Note ``name`` now, while the marks are on."""
    if STATE.on:
        MARKS.append((_now(), name))


def take() -> list[tuple[int, str]]:
    """The marks so far, which are forgotten."""
    taken = MARKS[:]
    del MARKS[: len(taken)]
    return taken


def wrap(
    original: Callable[..., Any],
    name: str,
    *,
    ends: bool = True,
    when: Callable[..., bool] | None = None,
) -> Callable[..., Any]:
    """``original`` with marks at its start (and, with ``ends``, its return) for the calls
    ``when`` accepts (all by default); a coroutine function stays one."""
    add = MARKS.append

    def wanted(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        return STATE.on and (when is None or when(*args, **kwargs))

    if inspect.iscoroutinefunction(original):

        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            if not wanted(args, kwargs):
                return await original(*args, **kwargs)
            add((_now(), f"{name}>" if ends else name))
            try:
                return await original(*args, **kwargs)
            finally:
                if ends:
                    add((_now(), f"{name}<"))

        return functools.update_wrapper(awrapper, original)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not wanted(args, kwargs):
            return original(*args, **kwargs)
        add((_now(), f"{name}>" if ends else name))
        try:
            return original(*args, **kwargs)
        finally:
            if ends:
                add((_now(), f"{name}<"))

    return functools.update_wrapper(wrapper, original)


def hook(owner: Any, attr: str, name: str, **options: Any) -> None:
    """Replace ``owner.attr`` (a class's function, a module's, an object's) by ``wrap``."""
    setattr(owner, attr, wrap(getattr(owner, attr), name, **options))


def _ours(msg: list[Any], *args: Any, **kwargs: Any) -> bool:
    """Whether an IOPub message is one of a link's (its topic)."""
    return bool(msg) and isinstance(msg[0], bytes) and msg[0].startswith(_OURS)


def _infer_queued(outgoing: Any) -> bool:
    return any(message["op"] == "infer" for message in outgoing._queue)


# --- the server ---------------------------------------------------------------------------


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": __name__}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Hook the server's side of a request, and add the route that reads the marks."""
    from jupyter_server.base import handlers as jp
    from jupyter_server.utils import url_path_join
    from tornado import httpserver, httputil, web

    from jupyter_inferless.server import service, tornado_direct, turns
    from jupyter_inferless.server.decode import bodies
    from jupyter_inferless.server.http import base_handler, request_body, stream_handlers
    from jupyter_inferless.server.kernels import bridge, outgoing
    from jupyter_inferless.server.kernels.transport import zmq as zmq_transport
    from jupyter_inferless.server.streams import stream

    # tornado and jupyter_server
    hook(httpserver.HTTPServer, "handle_stream", "s.accept", ends=False)
    hook(httputil.HTTPServerRequest, "__init__", "s.request", ends=False)
    hook(web.RequestHandler, "__init__", "s.handler")
    hook(jp.APIHandler, "prepare", "jp.prepare")
    hook(jp.JupyterHandler, "check_host", "jp.host")
    identity = type(serverapp.identity_provider)
    hook(identity, "_get_user", "jp.user")
    hook(identity, "generate_anonymous_user", "jp.anon")
    hook(identity, "set_login_cookie", "jp.cookie")
    hook(jp.JupyterHandler, "check_xsrf_cookie", "jp.xsrf")
    hook(jp.JupyterHandler, "set_cors_headers", "jp.cors")
    hook(jp.JupyterHandler, "check_origin", "jp.origin")
    hook(type(serverapp.authorizer), "is_authorized", "jp.authz")
    hook(jp.APIHandler, "update_api_activity", "jp.activity")
    settings = serverapp.web_app.settings
    settings["log_function"] = wrap(settings["log_function"], "jp.log")
    # ours, in the order a request meets them
    hook(base_handler.InferlessHandler, "prepare", "s.prepare")
    hook(request_body.LimitedBody, "data_received", "s.body", ends=False)
    hook(request_body, "_with_body", "s.post", ends=False)
    hook(stream_handlers.GenerateStreamHandler, "generate", "s.generate", ends=False)
    hook(turns.TurnGate, "enter", "s.turn")
    hook(bodies, "json_body", "s.json")
    hook(base_handler, "decode_body", "s.validate")
    hook(service.Service, "start", "s.start")
    hook(bridge.KernelBridge, "start", "s.bridge")
    hook(stream_handlers.StreamWriter, "start_event_stream", "s.headers")
    hook(base_handler.InferlessHandler, "flush", "s.flush")
    hook(outgoing.Outgoing, "flush", "s.to_kernel", when=_infer_queued)
    hook(zmq_transport.ZmqTransport, "_dispatch", "s.recv")
    hook(bridge.KernelBridge, "_on_frame", "s.frame")
    hook(stream.Stream, "append", "s.append", ends=False)
    sender = tornado_direct.event_sender

    def event_sender(handler: Any, *, direct: bool) -> Callable[[bytes], Any]:
        return wrap(sender(handler, direct=direct), "s.write")

    tornado_direct.event_sender = event_sender  # type: ignore[assignment]
    route = url_path_join(serverapp.base_url, ROUTE)
    serverapp.web_app.add_handlers(".*$", [(route, _handler_class(jp.APIHandler, web))])


def _watch_activity(serverapp: Any) -> None:
    """Hook jupyter_server's IOPub activity watcher of each kernel (made at its start)."""
    for kernel in serverapp.kernel_manager._kernels.values():
        watcher = getattr(kernel, "_activity_stream", None)
        callback = getattr(watcher, "_recv_callback", None)
        if callback is not None and not getattr(callback, "hooked", False):
            watcher._recv_callback = wrap(callback, "jp.iopub_watch")
            watcher._recv_callback.hooked = True


def _handler_class(base: type, web: Any) -> type:
    """The route's handler: GET takes the marks, POST {"on": bool} turns them on or off."""

    class HooksHandler(base):  # type: ignore[misc, valid-type]
        @web.authenticated
        def get(self) -> None:
            self.finish(json.dumps(take()))

        @web.authenticated
        def post(self) -> None:
            _watch_activity(self.serverapp)
            STATE.on = bool(self.get_json_body()["on"])
            take()
            self.finish("{}")

    return HooksHandler


# --- the kernel ---------------------------------------------------------------------------


def install_kernel() -> None:
    """Hook the kernel's side of a request (run in the kernel, before the link exists)."""
    from IPython import get_ipython

    from jupyter_inferless.kernel import link, outbox, workers
    from jupyter_inferless.kernel.model import handler

    kernel = get_ipython().kernel
    shell = kernel.shell_stream  # read on the shell channel thread
    shell._recv_callback = wrap(shell._recv_callback, "k.recv")
    hook(kernel, "dispatch_shell", "k.dispatch")
    kernel.shell_handlers["comm_msg"] = wrap(kernel.shell_handlers["comm_msg"], "k.comm")
    hook(kernel, "_publish_status", "k.status")
    iopub = kernel.iopub_socket.io_thread
    hook(iopub, "send_multipart", "k.iopub", ends=False, when=_ours)
    hook(iopub, "_really_send", "k.iopub_send", when=_ours)
    hook(link.Link, "on_msg", "k.on_msg", ends=False)
    hook(link.Link, "handle", "k.handle", when=lambda self, message: message["op"] == "infer")
    hook(outbox.Outbox, "open", "k.open")
    hook(workers.ServedModel, "submit", "k.submit")
    hook(workers.ServedModel, "_run", "k.run", ends=False)
    hook(workers.ServedModel, "_run_async", "k.run", ends=False)
    hook(handler.StreamOutputHandler, "send_streamed_output", "k.send")
    hook(outbox.Outbox, "_send", "k.frame")


def dump(path: str) -> None:
    """Write the kernel's marks to ``path`` as JSON, and forget them."""
    with open(path, "w") as out:
        json.dump(take(), out)
