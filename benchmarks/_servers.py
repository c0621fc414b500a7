"""The three benchmarked SSE servers, each run in its own subprocess on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import psutil
from _shared import COUNTER, CellError, Model, connect, run_cell

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
STREAM_PATH = "/v2/models/counter/generate_stream"
#: jupyter_server's loggers are at DEBUG (only its handler filters by log level), so every
#: request builds and drops a few debug records; a server taking hundreds of requests a
#: second raises the logger itself to INFO, as README's "Serving at scale" says.
QUIET_DEBUG_LOG = {"loggers": {"ServerApp": {"level": "INFO"}}}


S = TypeVar("S", bound="ServerProcess")


class ServerStartError(RuntimeError):
    """A server did not come up (or its model could not be served)."""


def free_port() -> int:
    """Return a loopback TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _can_connect(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


class ServerProcess:
    """Base class: one server subprocess, its log file and its SSE endpoint."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.path = STREAM_PATH
        self.headers: dict[str, str] = {}
        self.log_path = workdir / f"{self.__class__.__name__}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._children: dict[int, psutil.Process] = {}

    def argv(self) -> list[str]:
        """Command line of the server."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """Environment of the server."""
        return dict(os.environ)

    def launch(self) -> None:
        """Start the subprocess (in its own session, so terminal signals don't reach it)."""
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.workdir,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the server accepts connections."""
        self._poll(lambda: _can_connect(self.port), timeout, "accept connections")

    def _poll(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc is None or self.proc.poll() is not None:
                raise ServerStartError(f"{self.name}: process exited\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.name}: did not {what} in {timeout:.0f} s\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of the server's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join("    | " + line for line in text.splitlines()[-lines:])

    def remember_children(self) -> None:
        """Note the server's descendants now, to stop them even if the server dies first."""
        if self.proc is None:
            return
        try:
            found = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return
        self._children.update({c.pid: c for c in found})

    def stop(self) -> None:
        """Terminate the server and anything it started; kill what does not exit."""
        if self.proc is None:
            return
        self.remember_children()
        _terminate(self.proc)
        self.proc = None
        alive = [c for c in self._children.values() if c.is_running()]
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        _, alive = psutil.wait_procs(alive, timeout=3)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()
        self._children.clear()


def _terminate(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class PlainTornado(ServerProcess):
    """(a) Minimal Tornado handler, flush per event."""

    name = "plain tornado"

    def argv(self) -> list[str]:
        """Run the Tornado script on our port."""
        return [sys.executable, str(HERE / "_plain_tornado.py"), "--port", str(self.port)]


class SseStarlette(ServerProcess):
    """(b) sse-starlette EventSourceResponse under uvicorn."""

    name = "sse-starlette"

    def argv(self) -> list[str]:
        """Run uvicorn on the Starlette app."""
        return [
            sys.executable, "-m", "uvicorn", "_sse_starlette_app:app",
            "--app-dir", str(HERE), "--host", HOST, "--port", str(self.port),
            "--log-level", "warning",
        ]  # fmt: skip


class JupyterInferless(ServerProcess):
    """(c) A real Jupyter server with the jupyter_inferless extension and a kernel."""

    name = "jupyter_inferless"
    #: The model the kernel serves (tests/support/models.py's Counter is the workload the other
    #: servers send too), and the name it is served under.
    model: Model = COUNTER
    model_name = "counter"

    def __init__(self, workdir: Path, **serve_options: int) -> None:
        super().__init__(workdir)
        self.kernel_code = "%load_ext jupyter_inferless\n" + self.model.serve(
            self.model_name, **serve_options
        )
        self.token = secrets.token_hex(16)
        self.base = f"http://{HOST}:{self.port}"
        self.path = f"/inferless/v2/models/{self.model_name}/generate_stream"
        self.headers = {"Authorization": f"token {self.token}"}
        self.jupyter_dir = workdir / "jupyter"
        self.kernel_id: str | None = None

    def argv(self) -> list[str]:
        """Run jupyter_server with the extension enabled and an isolated setup."""
        root = self.jupyter_dir / "root"
        root.mkdir(parents=True, exist_ok=True)
        return [
            sys.executable, "-m", "jupyter_server",
            f"--ServerApp.ip={HOST}", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
            "--ServerApp.open_browser=False", f"--ServerApp.root_dir={root}",
            "--ServerApp.allow_root=True",
            '--ServerApp.jpserver_extensions={"jupyter_inferless": True}',
            f"--ServerApp.logging_config={json.dumps(QUIET_DEBUG_LOG)}",
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        """Point every Jupyter/IPython directory into the temp dir."""
        env = super().env()
        for var, sub in [
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_DATA_DIR", "data"),
            ("IPYTHONDIR", "ipython"),
        ]:
            env[var] = str(self.jupyter_dir / sub)
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        return env

    def client(self) -> httpx.Client:
        """HTTP client for the server's REST API (no proxies: loopback only)."""
        return httpx.Client(base_url=self.base, headers=self.headers, trust_env=False, timeout=30)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait for the server, start a kernel, serve the model, wait until it is listed."""
        with self.client() as http:
            self._poll(lambda: _get_ok(http, "/api/status"), timeout, "answer /api/status")
            models = http.get("/inferless/api/models")
            if models.status_code != 200:
                raise ServerStartError(
                    f"{self.name}: GET /inferless/api/models -> {models.status_code}; "
                    f"is the extension loaded?\n{self.log_tail()}"
                )
            self.kernel_id = self._start_kernel(http)
            self.remember_children()
            self.run_code(self.kernel_code)
            self._poll(
                lambda: _lists_model(http, self.model_name), 10.0, f"list model {self.model_name!r}"
            )

    def _start_kernel(self, http: httpx.Client) -> str:
        resp = http.post("/api/kernels", json={"name": "python3"})
        if resp.status_code not in (200, 201):
            raise ServerStartError(f"{self.name}: POST /api/kernels -> {resp.status_code}")
        return str(resp.json()["id"])

    @property
    def connection_file(self) -> Path:
        """The kernel's connection file (once the kernel is started)."""
        return self.jupyter_dir / "runtime" / f"kernel-{self.kernel_id}.json"

    def run_code(self, code: str) -> str:
        """Run ``code`` in the kernel; return what it printed."""
        conn = self.connection_file
        self._poll(conn.exists, 10.0, f"write {conn.name}")
        client = connect(conn)
        try:
            return run_cell(client, code, timeout=60)
        except CellError as err:
            raise ServerStartError(f"{self.name}: kernel code failed: {err}") from None
        finally:
            client.stop_channels()

    def pids(self) -> dict[str, int]:
        """Process ids of the server and of its kernel."""
        if self.proc is None or self.kernel_id is None:
            raise ServerStartError(f"{self.name}: not running")
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if any(self.kernel_id in arg for arg in child.cmdline()):
                    return {"server": self.proc.pid, "kernel": child.pid}
        raise ServerStartError(f"{self.name}: kernel {self.kernel_id} process not found")

    def stop(self) -> None:
        """Shut the kernel down through the API, then stop the server."""
        if self.kernel_id is not None and self.proc is not None and self.proc.poll() is None:
            try:
                with self.client() as http:
                    http.delete(f"/api/kernels/{self.kernel_id}", timeout=10)
            except httpx.HTTPError:
                pass
            self.kernel_id = None
        super().stop()


class PublicWrites(JupyterInferless):
    """(c) with ``c.Service.direct_writes = False``: every event through tornado's public
    RequestHandler.write and flush, as on a tornado server/tornado_direct.py was not tested
    with."""

    name = "inferless public"

    def argv(self) -> list[str]:
        """The same server, the direct write path off."""
        return [*super().argv(), "--Service.direct_writes=False"]


def _get_ok(http: httpx.Client, path: str) -> bool:
    try:
        return http.get(path, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _lists_model(http: httpx.Client, name: str) -> bool:
    try:
        resp = http.get("/inferless/api/models", timeout=2)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200 and _mentions(resp.json(), name)


def _mentions(obj: object, name: str) -> bool:
    """Tell whether ``name`` is a string value or a key anywhere in a JSON document."""
    if isinstance(obj, str):
        return obj == name
    if isinstance(obj, dict):
        return name in obj or any(_mentions(v, name) for v in obj.values())
    if isinstance(obj, list):
        return any(_mentions(v, name) for v in obj)
    return False


def launch(server: S, stack: contextlib.ExitStack) -> S:
    """Start ``server``'s process; ``stack`` stops it, warning (only) if that fails."""
    stack.callback(_stop_quietly, server)
    server.launch()
    return server


def _stop_quietly(server: ServerProcess) -> None:
    try:
        server.stop()
    except Exception as err:  # keep stopping the others
        print(f"warning: stopping {server.name}: {err}", file=sys.stderr)


def describe(server: ServerProcess) -> str:
    """One line naming the server and where it listens."""
    return f"{server.name} on {HOST}:{server.port}{server.path}"
