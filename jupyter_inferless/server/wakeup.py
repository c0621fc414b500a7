"""A wake-up that any number of coroutines wait on, with a timeout."""

from __future__ import annotations

import asyncio


class Wakeup:
    """``wake()`` ends every current ``wait()``; later waits wait for the next wake."""

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    def wake(self) -> None:
        """Wake every waiter."""
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    async def wait(self, timeout: float) -> bool:
        """Wait for the next wake; False when ``timeout`` seconds passed first."""
        if self._future is None or self._future.done():
            self._future = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._future), timeout)
        except asyncio.TimeoutError:
            return False
        return True
