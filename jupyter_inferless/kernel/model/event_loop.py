"""One long-lived asyncio event loop per async model, on its own thread.

Whatever an async model makes in ``initialize`` (an engine, an HTTP session, a queue)
is bound to the loop it was made on; every later call of that model runs on the same
loop, from ``initialize`` to ``finalize``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from concurrent.futures import TimeoutError as WaitedTooLong  # not the builtin before 3.11
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("jupyter_inferless.kernel")
CLOSE_TIMEOUT = 10.0  # seconds close() waits for the cancelled tasks, then for the thread


class ModelLoop:
    """An event loop running forever on a daemon thread, until ``close``."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, name=f"inferless-loop-{name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def on_loop_thread(self) -> bool:
        """Whether the caller is the loop's own thread."""
        return threading.current_thread() is self._thread

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule ``coroutine`` on the loop; its result arrives in the future."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (from another thread)."""
        if self.on_loop_thread:
            coroutine.close()
            raise RuntimeError(
                "a model's coroutine cannot be waited for on its own event loop; await it instead"
            )
        return self.submit(coroutine).result()

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Cancel what still runs, stop the loop and wait (``timeout`` s at most) for the
        tasks to end, then as long for its thread."""
        if self.loop.is_closed():
            return

        async def cancel_remaining() -> None:
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        if self._thread.is_alive() and not self.on_loop_thread:
            try:
                self.submit(cancel_remaining()).result(timeout)
            except WaitedTooLong:
                log.warning("the tasks of %s did not end within %g s", self._thread.name, timeout)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("%s did not stop within %g s", self._thread.name, timeout)
            return  # a running loop cannot be closed
        self.loop.close()
