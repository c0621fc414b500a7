"""Remote kernels: a real Jupyter Kernel Gateway as a subprocess, and a notebook's client of
a kernel's websocket (``api/kernels/ID/channels``), which works for the gateway's kernels.

The gateway listens on 127.0.0.1 with a token and lists its kernels (jupyter_server's
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
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from jupyter_server.services.kernels.connection.base import deserialize_binary_message
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect


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

    def _alive(self) -> bool:
        request = urllib.request.Request(self.url + "/api/kernels", headers=self.auth)
        try:
            with urllib.request.urlopen(request, timeout=5):
                return True
        except (OSError, urllib.error.URLError):
            return False


@contextmanager
def running_gateway(base: Path) -> Iterator[Gateway]:
    """``jupyter kernelgateway`` on 127.0.0.1 with a token, listing its kernels."""
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
    log = base / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=base, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    gateway = Gateway(f"http://127.0.0.1:{port}", token, process, log)
    try:
        deadline = time.monotonic() + 60
        while not gateway._alive():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the kernel gateway did not start:\n{gateway.log_tail()}")
            time.sleep(0.2)
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
