"""Runs one stream on a background thread and feeds a :class:`StreamView`.

The stream comes from a source with the HTTP client's surface: in a kernel, the
:class:`~.link_client.LinkClient` over the kernel's own link to its Jupyter server; the
rulebook's tests use the HTTP :class:`~jupyter_inferless.client.Client`. Both raise the
client's errors, and how the stream ends decides the view's final state by the stream
views' rulebook (:mod:`.rules`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .._client_errors import ModelError, RequestRejected
from .rules import STOP_TIMEOUT, End, final_state
from .running import track
from .view import StreamView

if TYPE_CHECKING:
    from ..contract.schema import ModelSchema

__all__ = ["Source", "StreamRun", "local_schema", "remote_schema"]


class Outputs(Protocol):
    """One request's outputs: ``start()`` sends it, then iterate; ``request_id`` once sent."""

    request_id: str | None

    def start(self) -> Any:
        """Send the request; raises RequestRejected."""

    def __iter__(self) -> Iterator[Any]:
        """The output dicts; ModelError for an in-band error."""


class Source(Protocol):
    """What the runner needs of a client (LinkClient, or the HTTP Client)."""

    def stream(self, model: str, inputs: dict[str, Any], /) -> Outputs:
        """A stream of ``model``'s outputs, not yet sent."""

    def models(self) -> list[dict[str, Any]]:
        """Every served model, as the server lists them."""

    def cancel(self, request_id: str) -> Any:
        """Cancel a request."""

    def close(self) -> None:
        """Release the client."""


def local_schema(name: str) -> ModelSchema | None:
    """The parsed INPUT_SCHEMA of ``name`` when this kernel serves it, else None."""
    from ..kernel.runtime import Runtime

    model = Runtime.current().models.get(name)
    return None if model is None else model.schema


def remote_schema(client: Source, name: str) -> ModelSchema:
    """The parsed INPUT_SCHEMA of ``name`` as the server lists it."""
    from ..contract.schema import ModelSchema

    listed = client.models()
    for model in listed:
        if model.get("name") == name:
            return ModelSchema.from_json(model.get("schema") or {})
    served = ", ".join(sorted(str(model.get("name")) for model in listed)) or "none"
    raise LookupError(f"no model named {name!r} is served (served: {served})")


class StreamRun:
    """One request: streams on a daemon thread, cancels on Stop.

    After Stop it waits up to ``stop_timeout`` seconds for the server to end the
    stream, then hangs up (as it does at once when the DELETE fails). ``close`` stops it
    at once (the runtime closing), and ``join`` waits for its threads.
    """

    def __init__(
        self,
        client: Source,
        name: str,
        inputs: dict[str, Any],
        view: StreamView,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.client = client
        self.name = name
        self.inputs = inputs
        self.view = view
        self.stop_timeout = stop_timeout
        self.stream: Outputs | None = None
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._cancel_sent = False
        self._lock = threading.Lock()
        self._cancellers: list[threading.Thread] = []
        view.on_stop = self.stop
        self.thread = threading.Thread(
            target=self._run, name=f"inferless-stream-{name}", daemon=True
        )

    @property
    def request_id(self) -> str | None:
        """The server's id of the request, once it was accepted."""
        return None if self.stream is None else self.stream.request_id

    def start(self) -> StreamRun:
        """Start streaming in the background."""
        track(self)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Ask the server to cancel the request, without blocking the caller."""
        self._stop.set()
        self._cancel_in_background()

    def close(self) -> None:
        """Stop at once, without waiting: cancel the request, end the view, stop reading."""
        self._stop.set()
        with contextlib.suppress(Exception):  # the stream ended meanwhile, or the link went
            self._send_cancel()
        self._end("hang_up", "the view was closed (the extension unloaded, or the kernel stops)")
        self.client.close()  # wakes the stream thread

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the stream, cancel and view threads to end."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = [self.thread, *self._cancellers]
        for thread in threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        self.view.join(max(0.0, deadline - time.monotonic()))

    def _cancel_in_background(self) -> None:
        canceller = threading.Thread(target=self._cancel, name="inferless-cancel", daemon=True)
        with self._lock:
            self._cancellers = [t for t in self._cancellers if t.is_alive()] + [canceller]
        canceller.start()

    def _send_cancel(self) -> bool:
        """Ask the server to cancel, once its request id is known; whether this sent it."""
        request_id = self.request_id
        with self._lock:
            if request_id is None or self._cancel_sent:
                return False
            self._cancel_sent = True
        self.client.cancel(request_id)
        return True

    def _cancel(self) -> None:
        """Cancel the request once its id is known (the stream thread asks otherwise), then
        give the server ``stop_timeout`` seconds to end the stream."""
        try:
            if not self._send_cancel():
                return
        except Exception as err:  # e.g. the server went away or the stream just ended
            self._end("hang_up", f"could not cancel: {type(err).__name__}: {err}")
            return
        if not self._ended.wait(self.stop_timeout):
            self._end(
                "hang_up", f"the server had not ended the stream {self.stop_timeout:g} s after Stop"
            )

    def _end(self, end: End, message: str | None = None, kind: str | None = None) -> None:
        """Show the final state that ``end`` decides; the first end wins."""
        self.view.finish(final_state(end, kind, stopped=self._stop.is_set()), message, kind)
        self._ended.set()

    def _run(self) -> None:
        view = self.view
        try:
            self.stream = self.client.stream(self.name, self.inputs)
            self.stream.start()
            view.connected(self.stream.request_id)
            if self._stop.is_set():  # Stop was pressed while connecting
                self._cancel_in_background()
            for output in self.stream:
                if not view.add(output):
                    break  # the view hung up after Stop
            self._end("end")  # also after a Stop that came too late: the model had finished
        except ModelError as err:
            self._end("error", str(err), err.kind)
        except RequestRejected as err:
            self._end("refused", f"the server refused the request: {err.message} ({err.status})")
        except Exception as err:
            self._end("lost", f"{type(err).__name__}: {err}")
        finally:
            self.client.close()
