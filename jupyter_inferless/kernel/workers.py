"""Run a model's requests on worker threads, bounded by its concurrency."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..contract import ModelSchema, OutputError, StreamCancelled
from ..protocol import ErrorKind, ModelDescription, RunError, model_description, run_error_from
from .model import ModelAdapter, StreamOutputHandler
from .outbox import RequestChannel

log = logging.getLogger("jupyter_inferless.kernel")


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
    active: dict[str, RequestChannel] = field(default_factory=dict)
    executor: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(
            max_workers=self.max_concurrency, thread_name_prefix=f"inferless-{self.name}"
        )
        self._lock = threading.Lock()

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
        )

    def submit(self, rid: str, inputs: dict[str, Any], channel: RequestChannel) -> None:
        """Queue a request; it runs when a worker is free."""
        with self._lock:
            self.active[rid] = channel
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
        self.adapter.finalize()

    def _run(self, rid: str, inputs: dict[str, Any], channel: RequestChannel) -> None:
        handler = StreamOutputHandler(channel, channel.cancelled)
        try:
            if channel.cancelled.is_set():
                raise StreamCancelled("the request was cancelled before it started")
            self.adapter.infer(inputs, handler)
        except StreamCancelled:
            handler.fail(channel.cancel_reason)
        except BaseException as err:  # the model's own failure: report it, keep serving
            log.error("model %r failed on request %s", self.name, rid, exc_info=True)
            kind = ErrorKind.OUTPUT_ERROR if isinstance(err, OutputError) else ErrorKind.MODEL_ERROR
            if not handler.fail(run_error_from(err, kind)):
                log.warning("model %r raised after finalising request %s", self.name, rid)
        else:
            if not handler.finished:
                log.warning(
                    "model %r: infer returned without finalise_streamed_output(); "
                    "the stream was finalised for it",
                    self.name,
                )
                handler.finalise_streamed_output()
        finally:
            with self._lock:
                self.active.pop(rid, None)
