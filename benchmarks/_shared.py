"""What the benchmarks share with the tests, from tests/support/: the one SSE parser, the
helper that runs code in a kernel, and the models (the jupyter_inferless server serves
tests/support/models.py's Counter). Benchmark modules import these names from here; this
module puts the project's root first on the path, so ``tests.support`` is found by its full
name.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # the project's root, for ``tests.support``

from tests.support.kernels import CellError, connect, run_cell  # noqa: E402
from tests.support.models import (  # noqa: E402
    ASYNC_TICKER,
    COUNTER,
    PADDED,
    SIZER,
    TICKER,
    Model,
    counter_output,
)
from tests.support.sse_parser import Event, SSEParser  # noqa: E402

__all__ = [
    "ASYNC_TICKER",
    "COUNTER",
    "PADDED",
    "SIZER",
    "TICKER",
    "CellError",
    "Event",
    "Model",
    "SSEParser",
    "connect",
    "counter_output",
    "run_cell",
]
