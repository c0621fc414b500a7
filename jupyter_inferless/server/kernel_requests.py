"""What a linked kernel asks the server for its own views: ``watch``, ``unwatch``, ``list``.

The inline view of a notebook streams over its kernel's link rather than over HTTP, so it
needs no credential and works wherever the link does (a password login, JupyterHub, a
kernel on a Kernel Gateway that cannot reach the server's URL). The comm was opened by
this server, so a request on it comes from the kernel's own code: it is as trusted as that
code, which could run any served model with the server's token before.

A watch starts a run like ``POST …/generate_stream`` (the same validation and admission;
a refusal carries the status and kind HTTP would answer), then reads its stream with the
reader an HTTP subscriber uses (``streams/reader.py``): each batch of new events goes in one
``watched`` message, and the stream advances as they are sent, so the model's credit
flows; an idle stream gets an empty one every heartbeat interval. A watch ends with its
run, or is cancelled when the link goes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .. import protocol
from ..contract import decode_body
from ..protocol import ErrorKind, KernelRequest, RunError
from .http import http_errors
from .kernels.bridge import KernelBridge
from .service import Service
from .streams.reader import End, Events
from .streams.stream import Stream

log = logging.getLogger("ServerApp.jupyter_inferless")  # the server log's handlers


class Watch:
    """One view's run: its stream and the task sending it to the kernel."""

    def __init__(self, stream: Stream, task: asyncio.Task[None]) -> None:
        self.stream = stream
        self.task = task


class KernelRequests:
    """Answers the kernels' own requests; the catalog hands it every bridge's."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.watches: dict[tuple[str, str], Watch] = {}  # by (kernel id, view id)
        self._background: set[asyncio.Task[None]] = set()

    def handle(self, bridge: KernelBridge, request: KernelRequest) -> None:
        """A request from ``bridge``'s kernel, on its serving comm (decoded by the bridge)."""
        if request["op"] == "watch":
            self._watch(bridge, request["vid"], request["model"], request["inputs"])
        elif request["op"] == "unwatch":
            watch = self.watches.get((bridge.kernel_id, request["vid"]))
            if watch is not None and not watch.stream.ended:
                watch.stream.cancel()
        else:
            self._spawn(self._list(bridge, request["qid"]))

    def dropped(self, bridge: KernelBridge) -> None:
        """``bridge``'s link went away: cancel its views' runs."""
        for (kernel_id, _vid), watch in list(self.watches.items()):
            if kernel_id == bridge.kernel_id:
                watch.task.cancel()
                if not watch.stream.ended:
                    watch.stream.cancel()

    def _watch(self, bridge: KernelBridge, vid: str, model: str, inputs: Any) -> None:
        try:
            depth = self.service.max_input_depth
            found = self.service.model(model)
            stream = self.service.start(found, lambda schema: decode_body(schema, inputs, depth))
        except Exception as err:  # a refusal, as HTTP would answer it (or a bug: 500)
            self._send(bridge, protocol.watched(vid, "", [], refused=_refusal(err)))
            return
        key = (bridge.kernel_id, vid)
        comm_id = bridge.transport.comm_id
        task = asyncio.ensure_future(self._pump(bridge, comm_id, vid, stream))
        self.watches[key] = Watch(stream, task)
        task.add_done_callback(lambda _task: self._forget(key, task))

    def _forget(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        watch = self.watches.get(key)
        if watch is not None and watch.task is task:
            del self.watches[key]

    async def _pump(
        self, bridge: KernelBridge, comm_id: str | None, vid: str, stream: Stream
    ) -> None:
        """Send the stream's events to the kernel as they arrive, until its end."""
        try:
            with stream.reader(0, self.service.heartbeat_interval) as reader:
                self._send(bridge, protocol.watched(vid, stream.rid, []))  # accepted, like a 200
                async for item in reader:
                    if bridge.transport.comm_id != comm_id:
                        break  # the link was replaced: nobody reads this view any more
                    if isinstance(item, Events):
                        texts = [line.decode() for line in item.lines]
                        error = stream.error if item.last else None
                        batch = protocol.watched(
                            vid, stream.rid, texts, ended=item.last, error=error
                        )
                        self._send(bridge, batch)
                        if item.last:
                            return
                    elif isinstance(item, End):  # the run's end, or this view fell behind
                        self._end(bridge, vid, stream, item.error)
                        return
                    else:  # idle: a heartbeat
                        self._send(bridge, protocol.watched(vid, stream.rid, []))
        except Exception:  # the kernel's link is going: its end is heard elsewhere
            log.debug("kernel %s: view %s stopped", bridge.kernel_id, vid, exc_info=True)
        if not stream.ended:
            stream.cancel()

    def _end(self, bridge: KernelBridge, vid: str, stream: Stream, error: RunError | None) -> None:
        self._send(bridge, protocol.watched(vid, stream.rid, [], ended=True, error=error))

    async def _list(self, bridge: KernelBridge, qid: str) -> None:
        models = await self.service.list_models()
        self._send(bridge, protocol.listed(qid, models))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    def _send(bridge: KernelBridge, message: Any) -> None:
        bridge.send(message)


def _refusal(err: Exception) -> protocol.Refusal:
    """The refusal of a watch, with the status and kind HTTP gives the error (http_errors)."""
    refusal = http_errors.refusal_of(err)
    if refusal is None:
        log.error("a view's request failed", exc_info=err)
        return protocol.refusal(500, ErrorKind.INTERNAL_ERROR, "internal error; see the server log")
    status, kind = refusal
    return protocol.refusal(status, kind, str(err))
