"""Remote kernels: a real Jupyter Kernel Gateway or Enterprise Gateway as a subprocess, and a
notebook's client of a kernel's websocket (``api/kernels/ID/channels``), which works for
either gateway's kernels.

A gateway listens on 127.0.0.1 with a token and lists its kernels (jupyter_server's
gateway mode needs that); its runtime and data dirs are in a temporary folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from jupyter_server.gateway.gateway_client import GatewayClient
from jupyter_server.serverapp import ServerApp
from jupyter_server.services.kernels.connection.base import deserialize_binary_message
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from tests.support.waiting import NeverHappened, until, until_answered


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Gateway:
    """A running Kernel Gateway: its URL, token, process and log."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def server_config(self) -> dict[str, Any]:
        """The jupyter_server settings that put a server in gateway mode against this one."""
        return {"GatewayClient": {"url": self.url, "auth_token": self.token}}

    @property
    def auth(self) -> dict[str, str]:
        """The gateway's authorization header."""
        return {"Authorization": f"token {self.token}"}

    def channels_url(self, kernel_id: str) -> str:
        """The websocket URL of one of the gateway's kernels."""
        return f"ws://{self.url.partition('://')[2]}/api/kernels/{kernel_id}/channels"

    def kernel_pids(self) -> list[int]:
        """The pids of the gateway's kernel processes."""
        return [child.pid for child in psutil.Process(self.process.pid).children()]

    def log_tail(self, lines: int = 60) -> str:
        """The end of the gateway's log, for failure messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def ping(self) -> None:
        """One request to the gateway; raises an OSError while it does not answer."""
        request = urllib.request.Request(self.url + "/api/kernels", headers=self.auth)
        with urllib.request.urlopen(request, timeout=5):
            pass


def _jupyter_env(base: Path) -> dict[str, str]:
    """The environment of a gateway: this one, with Jupyter's and IPython's dirs in ``base``."""
    base.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "IPYTHONDIR": str(base / "ipython"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("JPY_PARENT_PID", None)
    return env


@contextmanager
def _serving(
    command: list[str], base: Path, env: dict[str, str], port: int, token: str, what: str
) -> Iterator[Gateway]:
    """Run a gateway's ``command`` until the context ends; yield it once it answers. On the
    way out it is terminated (a gateway shuts its kernels down), and any kernel left is killed."""
    log = base / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=base, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    gateway = Gateway(f"http://127.0.0.1:{port}", token, process, log)
    try:
        until_answered(gateway.ping, what, gateway.log_tail, process)
        yield gateway
    finally:
        kernels = [psutil.Process(pid) for pid in gateway.kernel_pids()]
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        for kernel in kernels:
            if kernel.is_running():
                kernel.kill()


@contextmanager
def running_gateway(base: Path) -> Iterator[Gateway]:
    """``jupyter kernelgateway`` on 127.0.0.1 with a token, listing its kernels."""
    env = _jupyter_env(base)
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "kernel_gateway",
        "--KernelGatewayApp.ip=127.0.0.1",
        f"--KernelGatewayApp.port={port}",
        "--KernelGatewayApp.port_retries=0",
        f"--KernelGatewayApp.auth_token={token}",
        "--JupyterWebsocketPersonality.list_kernels=True",
    ]
    with _serving(command, base, env, port, token, "the kernel gateway") as gateway:
        yield gateway


# Enterprise Gateway 3.3 pins jupyter_server<2, jupyter_client<7 and pyzmq<25, so it runs
# from a venv of its own (scripts/test.sh makes it): this variable names its python.
ENTERPRISE_GATEWAY_PYTHON = "ENTERPRISE_GATEWAY_PYTHON"
# Enterprise Gateway refuses to start kernels for root (EG_UNAUTHORIZED_USERS), and a start
# request that names no KERNEL_USERNAME is the user it runs as: the tests may run as root.
# Set in its environment and inherited (EG_INHERITED_ENVS), it is every request's default.
KERNEL_USERNAME = "inferless-tests"
# What Enterprise Gateway's kernels get from its own environment (by default, nothing).
EG_INHERITED_ENVS = (
    "PATH",
    "HOME",
    "LANG",
    "KERNEL_USERNAME",
    "IPYTHONDIR",
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_DATA_DIR",
    "JUPYTER_RUNTIME_DIR",
    "PYTHONUNBUFFERED",
)


def enterprise_gateway_python() -> str | None:
    """The python of Enterprise Gateway's venv, if it is set up."""
    return os.environ.get(ENTERPRISE_GATEWAY_PYTHON) or None


def write_kernelspec(kernels_dir: Path, name: str = "python3") -> Path:
    """A kernelspec running this interpreter's ipykernel (with jupyter_inferless), under
    Enterprise Gateway's default process proxy (a local process)."""
    spec_dir = kernels_dir / name
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (jupyter_inferless)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=2))
    return spec_dir


@contextmanager
def running_enterprise_gateway(base: Path, python: str) -> Iterator[Gateway]:
    """Jupyter Enterprise Gateway (``python -m enterprise_gateway``, ``python`` from its own
    venv) on 127.0.0.1 with a token, listing its kernels. Its kernelspec ``python3``, in its
    own data dir (searched first), runs our ipykernel as a local process."""
    env = {
        **_jupyter_env(base),
        "KERNEL_USERNAME": KERNEL_USERNAME,
        "EG_INHERITED_ENVS": ",".join(EG_INHERITED_ENVS),
    }
    write_kernelspec(base / "data" / "kernels")
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        python,
        "-m",
        "enterprise_gateway",
        "--EnterpriseGatewayApp.ip=127.0.0.1",
        f"--EnterpriseGatewayApp.port={port}",
        "--EnterpriseGatewayApp.port_retries=0",
        f"--EnterpriseGatewayApp.auth_token={token}",
        "--EnterpriseGatewayApp.list_kernels=True",
    ]
    with _serving(command, base, env, port, token, "Enterprise Gateway") as gateway:
        yield gateway


class ChannelsClient:
    """A kernel's websocket as a notebook uses it (JSON messages with their ``channel``):
    enough of an async kernel client for ``kernels.NotebookKernel``."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers
        self.session = uuid.uuid4().hex
        self._ws: WebSocketClientConnection | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> WebSocketClientConnection:
        if self._ws is None:
            request = HTTPRequest(f"{self.url}?session_id={self.session}", headers=self.headers)
            self._ws = await websocket_connect(request, max_message_size=256 * 1024 * 1024)
        return self._ws

    async def execute_interactive(
        self, code: str, output_hook: Callable[[dict[str, Any]], None], timeout: float
    ) -> dict[str, Any]:
        """Run ``code``: each of its IOPub messages to ``output_hook``; its execute_reply,
        once the kernel is idle again."""
        async with self._lock:
            return await asyncio.wait_for(self._execute(code, output_hook), timeout)

    async def _execute(self, code: str, output_hook: Callable[[dict[str, Any]], None]) -> Any:
        ws = await self._connect()
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "session": self.session,
            "username": "test",
            "version": "5.4",
            "date": "2026-01-01T00:00:00.000000Z",
        }
        content = {"code": code, "silent": False, "store_history": True, "allow_stdin": False}
        message = {"header": header, "parent_header": {}, "metadata": {}, "content": content}
        await ws.write_message(json.dumps({**message, "channel": "shell", "buffers": []}))
        reply, idle = None, False
        while reply is None or not idle:
            raw = await ws.read_message()
            if raw is None:
                raise ConnectionError("the kernel's websocket closed")
            msg = deserialize_binary_message(raw) if isinstance(raw, bytes) else json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["channel"] == "shell" and msg["msg_type"] == "execute_reply":
                reply = msg
            elif msg["channel"] == "iopub":
                if msg["msg_type"] == "status":
                    idle = msg["content"]["execution_state"] == "idle"
                else:
                    output_hook(msg)
        return reply

    def stop_channels(self) -> None:
        """Close the websocket."""
        if self._ws is not None:
            self._ws.close()
            self._ws = None


def clean_up_gateway_mode(loop: asyncio.AbstractEventLoop) -> None:
    """pytest-jupyter's cleanup of the server, run while the gateway still runs; then gateway
    mode is reset (GatewayClient is a singleton), so no later test's server inherits it."""
    app = ServerApp.instance()
    try:
        loop.run_until_complete(app._cleanup())
    except (RuntimeError, SystemExit) as err:
        print("ignoring cleanup error", err)
    if hasattr(app, "kernel_manager"):
        app.kernel_manager.context.destroy()
    ServerApp.clear_instance()
    GatewayClient.clear_instance()


async def shut_down_remote_kernel(api: Any, kernel_id: str) -> None:
    """Shut a kernel down through the server; a kernel the gateway is restarting refuses
    (500) until it is back."""

    async def shut_down() -> bool:
        status, _ = await api.call(f"api/kernels/{kernel_id}", method="DELETE")
        return status in (204, 404)

    with suppress(NeverHappened):  # given up after 20 s: the gateway's own exit ends it
        await until(shut_down, f"the server shutting kernel {kernel_id} down", 20, poll=0.5)
