"""A process's resident memory, read from /proc (Linux), and its peak while a block runs."""

from __future__ import annotations

import threading
from pathlib import Path

MIB = 1024 * 1024


def rss(pid: int) -> int:
    """The process's resident memory in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


class PeakRss:
    """Samples a process's RSS on a thread every ``interval`` seconds while in the block;
    ``peak`` is the highest seen (the RSS on entry and exit included)."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        """The RSS now; raises the peak if higher."""
        now = rss(self.pid)
        self.peak = max(self.peak, now)
        return now

    def __enter__(self) -> PeakRss:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
