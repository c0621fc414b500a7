"""Run a model's requests, bounded by its concurrency: a sync ``infer`` on worker
threads, an ``async def infer`` as tasks on the model's one event loop.

Every request submitted ends in-band, whether it runs or not: a request still waiting for
a worker (or a slot) that is cancelled, or whose model is stopped or replaced, ends at once
with the cancel's reason, without waiting for the runs ahead of it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ..contract import ModelSchema, OutputError, StreamCancelled
from ..protocol import ErrorKind, ModelDescription, RunError, model_description, run_error_from
from .channel import RequestChannel
from .model import ModelAdapter, StreamOutputHandler

log = logging.getLogger("jupyter_inferless.kernel")
WORKER_START_TIMEOUT = 10.0  # seconds for a model's worker threads to start


@dataclass
class ServedModel:
    """A model this kernel serves."""

    name: str
    adapter: ModelAdapter
    schema: ModelSchema
    device: dict[str, Any]
    max_concurrency: int
    queue_size: int
    source: str
    notes: list[str] = field(default_factory=list)
    generation: int = 0  # this serve of the name, as the server's verdict names it
    active: dict[str, RequestChannel] = field(default_factory=dict)
    executor: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(
            max_workers=self.max_concurrency, thread_name_prefix=f"inferless-{self.name}"
        )
        self._lock = threading.Lock()
        self._slots: asyncio.Semaphore | None = None  # an async model's concurrency, on its loop
        self._tasks: set[Future[None]] = set()  # an async model's requests
        self._waiting: OrderedDict[str, tuple[dict[str, Any], RequestChannel]] = OrderedDict()
        self._workers = 0  # worker threads taking requests from _waiting (sync models)
        self._stopped: RunError | None = None  # the reason, once shutdown began
        if not self.adapter.infer_is_async:
            self._start_workers()

    def _start_workers(self) -> None:
        """Start every worker thread now, so that a burst of requests waits for none to be
        made: a thread's start waits until it runs, and under load that means waiting for
        the GIL behind every busy worker (256 starts took most of a second)."""
        started = threading.Barrier(self.max_concurrency + 1)
        for _ in range(self.max_concurrency):
            self.executor.submit(started.wait, WORKER_START_TIMEOUT)
        try:
            started.wait(WORKER_START_TIMEOUT)
        except threading.BrokenBarrierError:
            log.warning("model %r: its worker threads were slow to start", self.name)

    def describe(self) -> ModelDescription:
        """The model as the server lists it."""
        return model_description(
            name=self.name,
            class_name=self.adapter.class_name,
            source=self.source,
            schema=self.schema.to_json(),
            streaming=self.schema.streaming,
            device=self.device,
            max_concurrency=self.max_concurrency,
            queue_size=self.queue_size,
            notes=self.notes,
            generation=self.generation,
        )

    def submit(self, rid: str, inputs: dict[str, Any], channel: RequestChannel) -> None:
        """Queue a request; it runs when a worker (or, for an async model, a slot) is free."""
        with self._lock:
            stopped = self._stopped
            if stopped is None:
                self.active[rid] = channel
        if stopped is not None:  # came while the model stopped
            channel.end(stopped)
            return
        if self.adapter.infer_is_async:
            channel.waits_for_credit = False  # never block the model's event loop
            task = self.adapter.loop.submit(self._run_async(rid, inputs, channel))
            with self._lock:
                self._tasks.add(task)
            task.add_done_callback(self._forget)
            return
        channel.on_cancel = lambda: self._drop_waiting(rid)
        with self._lock:
            self._waiting[rid] = (inputs, channel)
            start_worker = self._workers < self.max_concurrency
            self._workers += 1 if start_worker else 0
        if channel.cancelled.is_set():  # cancelled before on_cancel was set
            self._drop_waiting(rid)
        if start_worker:
            self.executor.submit(self._work)

    def cancel_all(self, reason: RunError) -> None:
        """Cancel every request of this model; their streams end with ``reason`` (those
        still waiting at once)."""
        with self._lock:
            channels = list(self.active.values())
        for channel in channels:
            channel.cancel(reason)

    def shutdown(self, reason: RunError) -> None:
        """End the waiting requests and cancel the running ones, wait for the workers,
        then call the model's finalize()."""
        with self._lock:
            self._stopped = stopped = self._stopped or reason
            waiting = list(self._waiting)
        for rid in waiting:  # first, so that none of them takes a slot the cancels free
            self._drop_waiting(rid, stopped)
        self.cancel_all(stopped)
        self.executor.shutdown(wait=True)
        with self._lock:
            tasks = list(self._tasks)
        wait(tasks)
        self.adapter.finalize()

    def _drop_waiting(self, rid: str, reason: RunError | None = None) -> None:
        """End a request that waits for a worker, with ``reason`` or its cancel's; one
        already running sees its cancel in the model instead."""
        with self._lock:
            waiting = self._waiting.pop(rid, None)
            if waiting is None:
                return
            self.active.pop(rid, None)
        channel = waiting[1]
        channel.on_cancel = None
        channel.end(reason or channel.cancel_reason)

    def _work(self) -> None:
        """A worker's turn: run waiting requests in order until none waits."""
        while True:
            with self._lock:
                if not self._waiting:
                    self._workers -= 1
                    return
                rid, (inputs, channel) = self._waiting.popitem(last=False)
            channel.on_cancel = None
            self._run(rid, inputs, channel)

    def _forget(self, task: Future[None]) -> None:
        with self._lock:
            self._tasks.discard(task)

    def _run(self, rid: str, inputs: dict[str, Any], channel: RequestChannel) -> None:
        handler = StreamOutputHandler(channel, channel.cancelled)
        try:
            self._refuse_if_cancelled(channel)
            self.adapter.infer(inputs, handler)
        except BaseException as err:
            self._failed(rid, handler, channel, err)
        else:
            self._returned(handler)
        finally:
            with self._lock:
                self.active.pop(rid, None)

    async def _run_async(self, rid: str, inputs: dict[str, Any], channel: RequestChannel) -> None:
        """One request of an async model, as a task on its loop; a cancel cancels the task
        too, so a model awaiting something (not sending) stops at once."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrency)
        handler = StreamOutputHandler(channel, channel.cancelled)
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:

            def cancel_task() -> None:
                loop.call_soon_threadsafe(task.cancel)

            channel.on_cancel = cancel_task
        try:
            self._refuse_if_cancelled(channel)  # a cancel that came before on_cancel was set
            async with self._slots:
                self._refuse_if_cancelled(channel)
                await self.adapter.ainfer(inputs, handler)
        except asyncio.CancelledError:
            handler.fail(self._cancel_reason(channel))
        except BaseException as err:
            self._failed(rid, handler, channel, err)
        else:
            self._returned(handler)
        finally:
            channel.on_cancel = None
            with self._lock:
                self.active.pop(rid, None)

    def _refuse_if_cancelled(self, channel: RequestChannel) -> None:
        if channel.cancelled.is_set() or self._stopped is not None:
            raise StreamCancelled("the request was cancelled before it started")

    def _cancel_reason(self, channel: RequestChannel) -> RunError:
        """Why a cancelled request ends: its cancel's reason, else its model's stop."""
        if channel.cancelled.is_set() or self._stopped is None:
            return channel.cancel_reason
        return self._stopped

    def _failed(
        self, rid: str, handler: StreamOutputHandler, channel: RequestChannel, err: BaseException
    ) -> None:
        """End the stream in-band: with the cancel's reason, or the model's own failure."""
        if isinstance(err, StreamCancelled):
            handler.fail(self._cancel_reason(channel))
            return
        log.error("model %r failed on request %s", self.name, rid, exc_info=err)
        kind = ErrorKind.OUTPUT_ERROR if isinstance(err, OutputError) else ErrorKind.MODEL_ERROR
        if not handler.fail(run_error_from(err, kind)):
            log.warning("model %r raised after finalising request %s", self.name, rid)

    def _returned(self, handler: StreamOutputHandler) -> None:
        if not handler.finished:
            log.warning(
                "model %r: infer returned without finalise_streamed_output(); "
                "the stream was finalised for it",
                self.name,
            )
            handler.finalise_streamed_output()
