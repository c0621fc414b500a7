"""A real JupyterLab server as a subprocess, for the browser tests (panel and widget).

The server listens on 127.0.0.1 under a base_url, with a token, and with its config,
data and runtime dirs in a temporary folder, so nothing leaks in or out; the
jupyter_inferless server and lab extensions are enabled by their installation, as for a
user. (Not a conftest.py: a second conftest module would shadow tests/conftest.py for
tests that import from it.)
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.kernels import NotebookKernel, connect, run_cell
from tests.support.remote_kernels import ChannelsClient
from tests.support.waiting import NeverHappened, until_answered, until_sync


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Lab:
    """A running JupyterLab: its URL (with base_url), token, folders and log."""

    url: str
    token: str
    root: Path
    runtime_dir: Path
    log: Path

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """An authenticated JSON call."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's log, for failure messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def pid(self) -> int:
        """The server process's id (it names the server's jpserver file)."""
        (info,) = self.runtime_dir.glob("jpserver-*.json")
        return int(info.stem.removeprefix("jpserver-"))

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(urlsplit(self.url).port or 0)

    def counters(self, model: str) -> dict[str, int] | None:
        """The model's counters as the server lists them (None while it is not listed)."""
        listed = {m["name"]: m["counters"] for m in self.api("inferless/api/models")["models"]}
        return dict(listed[model]) if model in listed else None

    def runs(self, model: str) -> int:
        """How many requests the model has started."""
        counters = self.counters(model)
        assert counters is not None, f"{model!r} is not served"
        return counters["requests"]

    def wait_for_models(self, *names: str, timeout: float = 30.0) -> None:
        """Wait until every one of ``names`` is listed."""
        try:
            until_sync(
                lambda: all(self.counters(name) is not None for name in names),
                f"the server listing {names}",
                timeout,
                poll=0.1,
            )
        except NeverHappened as err:
            raise NeverHappened(f"{err}:\n{self.log_tail()}") from None


@contextmanager
def running_lab(base: Path, base_url: str = "/", extra_args: tuple[str, ...] = ()) -> Iterator[Lab]:
    """A JupyterLab server subprocess on 127.0.0.1 with a token and a base_url.

    ``extra_args`` are more command-line options, e.g. ``--Service.retry_ms=300``.
    """
    root = base / "notebooks"
    root.mkdir()
    config_dir = base / "config"
    (config_dir / "labconfig").mkdir(parents=True)
    # No "would you like news?" toast over the page.
    (config_dir / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    runtime_dir = base / "runtime"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(runtime_dir),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "IPYTHONDIR": str(base / "ipython"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("JPY_PARENT_PID", None)
    port = _free_port()
    token = secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={base_url}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=",
        *extra_args,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = base / "jupyterlab.log"
    lab = Lab(f"http://127.0.0.1:{port}{base_url}", token, root, runtime_dir, log)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        live = "inferless/v2/health/live"
        until_answered(lambda: lab.api(live), "JupyterLab", lab.log_tail, process)
        yield lab
    finally:
        if process.poll() is None:
            try:
                for kernel in lab.api("api/kernels"):
                    lab.api(f"api/kernels/{kernel['id']}", method="DELETE")
            except (OSError, urllib.error.URLError, ValueError):
                pass
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def lab_serving(
    base: Path, code: str, *names: str, base_url: str = "/", extra_args: tuple[str, ...] = ()
) -> Iterator[Lab]:
    """``running_lab`` whose notebook kernel ran ``code`` (it serves models: see models.py),
    once every one of ``names`` is listed."""
    with running_lab(base, base_url, extra_args) as lab:
        kernel = Kernel(lab, "models.ipynb")
        try:
            kernel.run("%load_ext jupyter_inferless\n" + code)
            lab.wait_for_models(*names)
            yield lab
        finally:
            kernel.close()


def start_session(lab: Lab, notebook: str) -> str:
    """A new notebook ``notebook`` and a session for it; the id of the kernel the server
    started for it."""
    (lab.root / notebook).write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    session = lab.api(
        "api/sessions",
        method="POST",
        body={
            "path": notebook,
            "name": notebook,
            "type": "notebook",
            "kernel": {"name": "python3"},
        },
    )
    return str(session["kernel"]["id"])


class Kernel:
    """A kernel the server started for a notebook session, driven by our own client."""

    def __init__(self, lab: Lab, notebook: str) -> None:
        self.kernel_id = start_session(lab, notebook)
        self.client = connect(lab.runtime_dir / f"kernel-{self.kernel_id}.json")

    def run(self, code: str) -> str:
        """Run a cell; what it showed (raises CellError with the traceback if it failed)."""
        return run_cell(self.client, code, timeout=60)

    def close(self) -> None:
        self.client.stop_channels()


class WebsocketKernel:
    """A kernel the server started for a notebook session, driven over the server's websocket
    (``api/kernels/ID/channels``) as a notebook tab is: for kernels with no connection file
    here, e.g. a gateway's. The websocket lives on an event loop of its own thread (the
    browser tests' thread is Playwright's)."""

    def __init__(self, lab: Lab, notebook: str) -> None:
        self.kernel_id = start_session(lab, notebook)
        url = lab.url.replace("http", "ws", 1) + f"api/kernels/{self.kernel_id}/channels"
        client = ChannelsClient(url, {"Authorization": f"token {lab.token}"})
        self.notebook = NotebookKernel(self.kernel_id, client)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, code: str) -> str:
        """Run a cell; what it showed (raises CellError with the traceback if it failed)."""
        ran = asyncio.run_coroutine_threadsafe(self.notebook.run(code, timeout=60), self._loop)
        return ran.result(timeout=70)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self.notebook.client.stop_channels)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
