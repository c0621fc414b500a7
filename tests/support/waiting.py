"""Waiting on a condition instead of sleeping: the one place tests poll.

A test that needs something to have happened waits for it here, with a failure timeout
that names what never happened. The timeout is a bound on a hang, never a measurement:
how long things take is for ``benchmarks/``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.02


class NeverHappened(AssertionError):
    """What a test waited for did not happen within its timeout."""


async def until(check: Callable[[], Awaitable[T] | T], what: str, timeout: float = 15.0) -> T:
    """Poll ``check`` (sync or async) until it returns something true, and return that;
    fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if asyncio.iscoroutine(found) or isinstance(found, Awaitable):
            found = await found
        if found:
            return found  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise NeverHappened(f"{what} within {timeout} s")
        await asyncio.sleep(POLL_SECONDS)


def until_sync(check: Callable[[], T], what: str, timeout: float = 15.0) -> T:
    """``until`` for a thread without an event loop."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not (found := check()):
        if time.monotonic() >= deadline:
            raise NeverHappened(f"{what} within {timeout} s")
        pause.wait(POLL_SECONDS)
    return found


def wait_event(event: threading.Event | Any, what: str, timeout: float = 15.0) -> None:
    """Wait for a ``threading.Event``; fail naming ``what`` if it is never set."""
    if not event.wait(timeout):
        raise NeverHappened(f"{what} within {timeout} s")


async def wait_async_event(event: asyncio.Event, what: str, timeout: float = 15.0) -> None:
    """Wait for an ``asyncio.Event``; fail naming ``what`` if it is never set."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        raise NeverHappened(f"{what} within {timeout} s") from None
