"""Large request bodies are read off the server's loop: by a few threads of the service, or,
for the largest, by a decode process.

What runs where: a body of up to ``inline_bytes`` is read on the loop (for such a body the
hop to a thread and back costs about as much as the reading). A larger one is read, its
inputs checked against the model's schema and packed for the kernel (``bodies``), by one
of ``threads`` threads, in bounded steps (``json_steps``, the binary tensors a slice at a
time); the loop gets back the packed inputs and never holds the values themselves (nor,
for a refusal, the frames that did). While a thread reads, CPython hands the GIL over
every SWITCH_INTERVAL (1 ms, not 5: the loop wanted it a few times per event and waited up
to 5 ms each time) and the garbage collector is paused (a full collection walking a 10 MiB
body's objects held the GIL for 100 ms); both are the process's settings, put back when
the last reading thread is done.

A body of ``process_bytes`` or more is read by one of ``processes`` decode processes
(spawned on first use): a thread holding the GIL for seconds is no harm while it runs, but
on a busy machine the system sets it aside, GIL held, and then the loop waits for it too.
A process costs the loop only the body's copy out and the packed inputs' copy back. The
threads also make each large request's message ready (``transport/prepared.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import multiprocessing
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from tornado.web import HTTPError

from ...contract import ModelSchema
from ...contract.errors import InferlessError
from ..errors import KernelUnavailable
from .bodies import Body, Read, read_and_pack

T = TypeVar("T")
log = logging.getLogger("ServerApp.jupyter_inferless")  # the server log's handlers
SWITCH_INTERVAL = 0.001  # seconds a thread holds the GIL while another waits, when reading


class Decoding:
    """The decode threads and processes (each started on first use), and the sizes that
    send a body to them."""

    def __init__(
        self, threads: int, inline_bytes: int, processes: int = 1, process_bytes: int = 0
    ) -> None:
        if threads < 1 or processes < 0:
            raise ValueError(f"decode threads must be 1 or more, not {threads!r}")
        self.threads, self.inline_bytes = threads, inline_bytes
        self.processes, self.process_bytes = processes, process_bytes
        self._pool: ThreadPoolExecutor | None = None
        self._process_pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._readers = 0  # threads reading now (the collector paused, the GIL handed over often)
        self._was_enabled = False
        self._interval = sys.getswitchinterval()
        self._processes_worked = False

    def inline(self, size: int) -> bool:
        """Whether a body of ``size`` bytes is read on the loop."""
        return size <= self.inline_bytes

    def submit(self, work: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``work`` in a decode thread; its future, on the running loop."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="inferless-decode")
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._pool, self._reading, work)

    async def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` in a decode thread and return what it returns (or raise)."""
        return await self.submit(work)

    async def read(self, body: Body, schema: ModelSchema) -> Read:
        """``read_and_pack`` off the loop: in a decode process from ``process_bytes`` on
        (when there are any), else in a decode thread, in steps."""
        if self.processes and len(body.data) >= self.process_bytes:
            read = await self._in_process(body, schema)
        else:
            steps = dataclasses.replace(body, steps=True)  # the loop runs between steps
            read = await self.run(lambda: read_and_pack(steps, schema))
        read.packed.offload = self.submit  # its message is made ready in a thread
        return read

    def close(self) -> None:
        """Stop the threads and processes; work not begun is dropped."""
        for pool in (self._pool, self._process_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._process_pool = None

    async def _in_process(self, body: Body, schema: ModelSchema) -> Read:
        if self._process_pool is None:
            spawn = multiprocessing.get_context("spawn")  # never a fork of the server
            self._process_pool = ProcessPoolExecutor(self.processes, mp_context=spawn)
        plain = dataclasses.replace(body, steps=False)  # the process's GIL is its own
        try:
            read: Read = await asyncio.wrap_future(
                self._process_pool.submit(_read_in_process, plain, schema)
            )
        except BrokenProcessPool:
            self._process_pool = None  # a new one next time
            if not self._processes_worked:  # they cannot start here: threads read from now on
                log.warning("no decode process could start; decode threads read large bodies")
                self.processes = 0
                steps = dataclasses.replace(body, steps=True)
                return await self.run(lambda: read_and_pack(steps, schema))
            raise KernelUnavailable(
                "the process reading the body ended (out of memory?); send it again"
            ) from None
        except _Refused as refused:
            raise HTTPError(refused.args[0], "%s", refused.args[1]) from None
        self._processes_worked = True
        return read

    def _reading(self, work: Callable[[], T]) -> T:
        with self._lock:
            if self._readers == 0:
                self._was_enabled = gc.isenabled()
                self._interval = sys.getswitchinterval()
                gc.disable()
                sys.setswitchinterval(min(self._interval, SWITCH_INTERVAL))
            self._readers += 1
        try:
            return work()  # what it made and dropped is freed here, by this thread
        except (InferlessError, HTTPError) as err:  # a refusal: drop what its frames hold
            _drop_tracebacks(err)
            raise err from None
        finally:
            with self._lock:
                self._readers -= 1
                if self._readers == 0:
                    sys.setswitchinterval(self._interval)
                    if self._was_enabled:
                        gc.enable()


class _Refused(Exception):
    """An HTTPError raised in a decode process, as (status, message): it pickles whole."""


def _read_in_process(body: Body, schema: ModelSchema) -> Read:
    """``read_and_pack`` in a decode process."""
    try:
        return read_and_pack(body, schema)
    except HTTPError as err:
        message = err.log_message % err.args if err.log_message else ""
        raise _Refused(err.status_code, message) from None


def _drop_tracebacks(error: BaseException) -> None:
    """Forget the frames of a refusal and of the errors it was raised from: they hold what
    was read (the parsed body), which is then freed by this thread, not by the loop."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__
