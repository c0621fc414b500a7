"""A cell that keeps its kernel busy until the test lets it end: no timer decides how long.

The cell opens a named pipe to read, which blocks until the test opens it to write; the
test then knows the cell is running (``running``), and the cell ends once the test closes
its end (``release``). The kernel and the test share a filesystem.
"""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

from tests.support.kernels import NotebookKernel
from tests.support.waiting import until


class HeldCell:
    """A cell of ``kernel`` that runs until ``release``; it prints ``released``. As an
    async context manager: entered once it runs, released on the way out."""

    def __init__(self, kernel: NotebookKernel, directory: Path) -> None:
        self.pipe = directory / "held-cell"
        os.mkfifo(self.pipe)
        code = f"with open({str(self.pipe)!r}) as _held:\n    _held.read()\nprint('released')"
        self.cell: asyncio.Task[str] = kernel.run_in_background(code)
        self._writer: int | None = None

    async def running(self, timeout: float = 60.0) -> None:
        """Wait until the cell runs: it is blocked reading the pipe."""

        def reader_waits() -> bool:
            if self.cell.done():
                raise AssertionError(f"the held cell ended before it was let go: {self.cell}")
            try:
                self._writer = os.open(self.pipe, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:
                if error.errno != errno.ENXIO:  # ENXIO: no reader has the pipe open yet
                    raise
                return False
            return True

        await until(reader_waits, "the held cell ran", timeout)

    async def release(self) -> str:
        """Let the cell end; what it printed."""
        if self._writer is not None:
            os.close(self._writer)
            self._writer = None
        return await self.cell

    async def __aenter__(self) -> HeldCell:
        await self.running()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._writer is not None:
            await self.release()
        else:  # it never ran: the kernel's shutdown ends it
            self.cell.cancel()
