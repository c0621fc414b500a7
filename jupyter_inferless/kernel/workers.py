"""Run a model's requests, bounded by its concurrency: a sync ``infer`` on worker
threads, an ``async def infer`` as tasks on the model's one event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ..contract import ModelSchema, OutputError, StreamCancelled
from ..protocol import ErrorKind, ModelDescription, RunError, model_description, run_error_from
from .model import ModelAdapter, StreamOutputHandler
from .outbox import RequestChannel

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
        """Queue a request; it runs when a worker is free."""
        with self._lock:
            self.active[rid] = channel
        if self.adapter.infer_is_async:
            channel.waits_for_credit = False  # never block the model's event loop
            task = self.adapter.loop.submit(self._run_async(rid, inputs, channel))
            with self._lock:
                self._tasks.add(task)
            task.add_done_callback(self._forget)
        else:
            self.executor.submit(self._run, rid, inputs, channel)

    def cancel_all(self, reason: RunError) -> None:
        """Cancel every request of this model; their streams end with ``reason``."""
        with self._lock:
            channels = list(self.active.values())
        for channel in channels:
            channel.cancel(reason)

    def shutdown(self, reason: RunError) -> None:
        """Cancel requests, wait for the workers, then call the model's finalize()."""
        self.cancel_all(reason)
        self.executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            tasks = list(self._tasks)
        wait(tasks)
        self.adapter.finalize()

    def _forget(self, task: Future[None]) -> None:
        with self._lock:
            self._tasks.discard(task)

    def _run(self, rid: str, inputs: dict[str, Any], channel: RequestChannel) -> None:
        handler = StreamOutputHandler(channel, channel.cancelled)
        try:
            if channel.cancelled.is_set():
                raise StreamCancelled("the request was cancelled before it started")
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
            async with self._slots:
                if channel.cancelled.is_set():
                    raise StreamCancelled("the request was cancelled before it started")
                await self.adapter.ainfer(inputs, handler)
        except asyncio.CancelledError:
            handler.fail(channel.cancel_reason)
        except BaseException as err:
            self._failed(rid, handler, channel, err)
        else:
            self._returned(handler)
        finally:
            channel.on_cancel = None
            with self._lock:
                self.active.pop(rid, None)

    def _failed(
        self, rid: str, handler: StreamOutputHandler, channel: RequestChannel, err: BaseException
    ) -> None:
        """End the stream in-band: with the cancel's reason, or the model's own failure."""
        if isinstance(err, StreamCancelled):
            handler.fail(channel.cancel_reason)
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
