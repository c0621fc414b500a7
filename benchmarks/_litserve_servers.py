"""vs_litserve.py's two servers, with the same model: LitServe (_litserve_app.py, in the
LitServe venv) and jupyter_inferless (a real Jupyter server whose kernel serves the model);
their endpoints, and the memory of each server's processes."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from _servers import HERE, HOST, JupyterInferless, ServerProcess, ServerStartError
from _shared import ROOT, Model
from _streams import Address

#: The LitServe venv's python: $LITSERVE_PYTHON (scripts/test.sh), else .venv-litserve's.
PYTHON_VAR = "LITSERVE_PYTHON"
SIDE_VENV_PYTHON = Path(ROOT) / ".venv-litserve" / "bin" / "python"
SCHEMA = {
    "n": {"datatype": "INT32", "required": True, "shape": [1]},
    "pause_ms": {"datatype": "INT32", "required": False, "shape": [1]},
}
PACED = """
    import time

    def due_times(n, pause):
        '''When each of n events pause s apart is due, from now (time.time()).'''
        start = time.time()
        return [start + i * pause for i in range(n)]

"""
#: The thread path's model: _litserve_app.py's Ticks as the kernel runs it. Unpaced, n events
#: {"OUT": "tok", "i": i} (tests/support/models.py's Counter's); paced, event i is sent when
#: due, i * pause_ms after the start, with "t": that due time.
TICKS = Model(
    "Ticks",
    PACED
    + """
    class Ticks:
        def infer(self, inputs, stream_output_handler):
            send = stream_output_handler.send_streamed_output
            n, pause = inputs["n"], inputs.get("pause_ms", 0) / 1000
            if pause <= 0:
                for i in range(n):
                    send({"OUT": "tok", "i": i})
            else:
                for i, due in enumerate(due_times(n, pause)):
                    wait = due - time.time()
                    if wait > 0:
                        time.sleep(wait)
                    send({"OUT": "tok", "i": i, "t": due})
            stream_output_handler.finalise_streamed_output()
    """,
    SCHEMA,
)
#: The async path's model: _litserve_app.py's AsyncTicks, the same events from ``async def``.
ASYNC_TICKS = Model(
    "AsyncTicks",
    PACED
    + """
    import asyncio

    class AsyncTicks:
        async def infer(self, inputs, stream_output_handler):
            send = stream_output_handler.send_streamed_output
            n, pause = inputs["n"], inputs.get("pause_ms", 0) / 1000
            if pause <= 0:
                for i in range(n):
                    send({"OUT": "tok", "i": i})
            else:
                for i, due in enumerate(due_times(n, pause)):
                    wait = due - time.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    send({"OUT": "tok", "i": i, "t": due})
            stream_output_handler.finalise_streamed_output()
    """,
    SCHEMA,
)


def litserve_python() -> str:
    """The python that has litserve, or ServerStartError saying how to get one."""
    named = os.environ.get(PYTHON_VAR)
    if named:
        return named
    if SIDE_VENV_PYTHON.exists():
        return str(SIDE_VENV_PYTHON)
    raise ServerStartError(
        f"no LitServe: set {PYTHON_VAR} to a python with requirements/litserve.txt installed "
        "(scripts/test.sh makes .venv-litserve)"
    )


@dataclass
class Endpoints:
    """Where a path's model is posted: its one-stream rows, its 256-stream rows."""

    one: Address
    many: Address


class LitServe(ServerProcess):
    """LitServe 0.2.19 serving the sync and the async model (_litserve_app.py)."""

    name = "LitServe"

    def __init__(self, workdir: Path, fast_queue: bool = False) -> None:
        super().__init__(workdir)
        self.path = "/v2/models/{ticks,aticks}/generate_stream"  # the sync and the async model
        self.python = litserve_python()
        self.fast_queue = fast_queue

    def argv(self) -> list[str]:
        """Run the app with the LitServe venv's python."""
        argv = [self.python, str(HERE / "_litserve_app.py"), "--port", str(self.port)]
        return [*argv, "--fast-queue"] if self.fast_queue else argv

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait until LitServe's workers are ready (GET /health answers 200)."""
        url = f"http://{HOST}:{self.port}/health"
        with httpx.Client(trust_env=False, timeout=2) as http:
            self._poll(lambda: _ok(http, url), timeout, "answer GET /health with 200")
        self.remember_children()

    def endpoints(self, path: str) -> Endpoints:
        """The sync model for the thread path's one-stream rows; the async model for the rest
        (LitServe's sync loop runs one request at a time: its way to many streams is async)."""
        sync = Address(self.port, "/v2/models/ticks/generate_stream", {})
        many = Address(self.port, "/v2/models/aticks/generate_stream", {})
        return Endpoints(sync if path == "thread" else many, many)

    def pid_list(self) -> list[int]:
        """The server's process and all its descendants (API server, workers, manager)."""
        if self.proc is None:
            raise ServerStartError(f"{self.name}: not running")
        self.remember_children()
        return [self.proc.pid, *self._children]


class Inferless(JupyterInferless):
    """A Jupyter server whose kernel serves one path's model as ``ticks``."""

    model_name = "ticks"

    def __init__(self, workdir: Path, path: str, streams: int) -> None:
        self.model = TICKS if path == "thread" else ASYNC_TICKS
        super().__init__(workdir, max_concurrency=streams, queue_size=streams)
        self.name = "jupyter_inferless"

    def endpoints(self, path: str) -> Endpoints:
        """The kernel's one model, for every row."""
        address = Address(self.port, self.path, self.headers)
        return Endpoints(address, address)

    def pid_list(self) -> list[int]:
        """The server's process and its kernel's."""
        pids = self.pids()
        return [pids["server"], pids["kernel"]]


def rss(pids: list[int]) -> int:
    """The summed RSS of ``pids`` (a process gone counts 0), in bytes."""
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total


def _ok(http: httpx.Client, url: str) -> bool:
    try:
        return http.get(url).status_code == 200
    except httpx.HTTPError:
        return False
