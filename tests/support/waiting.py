"""Waiting on a condition instead of sleeping: the one place tests poll.

A test that needs something to have happened waits for it here, with a failure timeout
that names what never happened. The timeout is a bound on a hang, never a measurement:
how long things take is for ``benchmarks/``.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")
POLL_SECONDS = 0.02


class NeverHappened(AssertionError):
    """What a test waited for did not happen within its timeout."""


@overload
async def until(
    check: Callable[[], Awaitable[T]], what: str, timeout: float = ..., poll: float = ...
) -> T: ...


@overload
async def until(
    check: Callable[[], T], what: str, timeout: float = ..., poll: float = ...
) -> T: ...


async def until(
    check: Callable[[], Any], what: str, timeout: float = 15.0, poll: float = POLL_SECONDS
) -> Any:
    """Poll ``check`` (sync or async) every ``poll`` s until it returns something true, and
    return that; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if asyncio.iscoroutine(found) or isinstance(found, Awaitable):
            found = await found
        if found:
            return found
        if time.monotonic() >= deadline:
            raise NeverHappened(f"{what} within {timeout} s")
        await asyncio.sleep(poll)


def until_sync(
    check: Callable[[], T], what: str, timeout: float = 15.0, poll: float = POLL_SECONDS
) -> T:
    """``until`` for a thread without an event loop."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not (found := check()):
        if time.monotonic() >= deadline:
            raise NeverHappened(f"{what} within {timeout} s")
        pause.wait(poll)
    return found


def until_answered(
    call: Callable[[], object],
    what: str,
    log_tail: Callable[[], str],
    process: subprocess.Popen[Any] | None = None,
    timeout: float = 60.0,
) -> None:
    """Wait for a server starting up: until ``call`` (a request to it) raises no OSError.
    Fails with the server's ``log_tail()`` once its ``process`` exited, or after ``timeout``."""

    def answered() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log_tail()}")
        try:
            call()
        except OSError:  # refused, reset, or an HTTP error (urllib's errors are OSErrors)
            return False
        return True

    try:
        until_sync(answered, f"{what} answering", timeout, poll=0.2)
    except NeverHappened as err:
        raise RuntimeError(f"{what} did not start ({err}):\n{log_tail()}") from None


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
