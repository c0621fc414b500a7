"""What the benchmarks share with the tests, from tests/: the one SSE parser, the helper that
runs code in a kernel, and the models (the jupyter_inferless server serves tests/models.py's
Counter). Benchmark modules import these names from here; this module puts tests/ on the
path first.
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parents[1] / "tests")
if TESTS not in sys.path:
    sys.path.append(TESTS)

from kernels import CellError, connect, run_cell  # noqa: E402
from models import ASYNC_TICKER, COUNTER, PADDED, TICKER, Model, counter_output  # noqa: E402
from sse_parser import Event, SSEParser  # noqa: E402

__all__ = [
    "ASYNC_TICKER",
    "COUNTER",
    "PADDED",
    "TICKER",
    "CellError",
    "Event",
    "Model",
    "SSEParser",
    "connect",
    "counter_output",
    "run_cell",
]
