"""Run a notebook or a model directory as a service: a Jupyter server, a kernel, the models."""

from __future__ import annotations

import asyncio
import json
import secrets
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import nbformat
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import ApiPath
from traitlets.config import Config

from .contract import endpoint_path

READY_TIMEOUT = 30.0


class HeadlessError(RuntimeError):
    """The notebook or model directory could not be served."""


class HeadlessService:
    """A private Jupyter server on 127.0.0.1 that serves what one target defines."""

    def __init__(
        self,
        target: Path,
        port: int,
        name: str | None,
        token: str | None,
        allow_root: bool = False,
    ) -> None:
        self.target = target.resolve()
        self.name = name
        self.token = token or secrets.token_hex(24)
        # The server's root is the folder: the notebook's, the model directory, or app.py's.
        folder = self.target.parent if self.target.is_file() else self.target
        enabled = {"ServerApp": {"jpserver_extensions": {"jupyter_inferless": True}}}
        self.app = ServerApp(config=Config(enabled))
        self.app.initialize(
            argv=[
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.open_browser=False",
                f"--ServerApp.root_dir={folder}",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.allow_root={allow_root}",
            ],
            find_extensions=False,
        )
        self.kernel_id: str | None = None
        self.client: Any = None
        self.exit_code = 0

    def run(self) -> int:
        """Start, serve until Ctrl-C, then stop cleanly; the process exit code."""
        loop = self.app.io_loop
        loop.add_callback(self._start)
        signal.signal(signal.SIGINT, lambda *_: loop.add_callback_from_signal(self._shutdown))
        signal.signal(signal.SIGTERM, lambda *_: loop.add_callback_from_signal(self._shutdown))
        self.app.start()
        return self.exit_code

    async def _start(self) -> None:
        try:
            await self._start_kernel()
            if self.target.suffix == ".ipynb":
                await self._run_notebook()
            else:
                call = f"jupyter_inferless.serve({str(self.target)!r}, name={self.name!r})"
                await self._execute(f"import jupyter_inferless\n{call}", "serve")
            models = await self._wait_for_models()
            print(describe(self.app.connection_url, self.token, models), flush=True)
        except HeadlessError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            self.exit_code = 1
            await self._shutdown()

    async def _start_kernel(self) -> None:
        manager = self.app.kernel_manager
        self.kernel_id = await manager.start_kernel(path=ApiPath(""))
        self.client = manager.get_kernel(self.kernel_id).client()
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)

    async def _run_notebook(self) -> None:
        notebook = nbformat.read(self.target, as_version=4)
        cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        for number, cell in enumerate(cells, 1):
            await self._execute(cell.source, f"cell {number} of {len(cells)}")

    async def _execute(self, code: str, what: str) -> None:
        errors: list[str] = []

        def show(msg: dict[str, Any]) -> None:
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                stream = sys.stderr if content["name"] == "stderr" else sys.stdout
                stream.write(content["text"])
                stream.flush()
            elif kind == "error":
                errors.append("\n".join(content["traceback"]))

        reply = await self.client.execute_interactive(code, output_hook=show, timeout=None)
        if reply["content"]["status"] != "ok":
            raise HeadlessError(f"{what} failed:\n" + "\n".join(errors))

    async def _wait_for_models(self) -> list[dict[str, Any]]:
        catalog = self.app.web_app.settings["inferless_service"].catalog
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
        while asyncio.get_running_loop().time() < deadline:
            bridge = catalog.bridges.get(self.kernel_id)
            if bridge is not None and bridge.models:
                return [entry.description for entry in bridge.models.values()]
            await asyncio.sleep(0.1)
        raise HeadlessError(f"{self.target.name} ran, but served no model (call %inferless serve)")

    async def _shutdown(self) -> None:
        """Finalize every model, shut the kernel down, stop the server."""
        print("\nstopping: finalizing models", flush=True)
        if self.client is not None:
            try:
                await self._execute("%unload_ext jupyter_inferless", "finalize")
            except (HeadlessError, TimeoutError) as err:
                print(f"warning: {err}", file=sys.stderr)
            self.client.stop_channels()
        self.app.stop()


def example_body(model: dict[str, Any]) -> dict[str, Any]:
    """A request body built from the schema's examples (required inputs at least)."""
    body: dict[str, Any] = {}
    for spec in model["schema"]["inputs"]:
        example = spec.get("example")
        if example:
            body[spec["name"]] = example[0] if spec["shape"] == [1] else example
        elif spec["required"]:
            body[spec["name"]] = _placeholder(spec["datatype"])
    return body


def v2_request(model: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The same values as a v2 infer request."""
    specs = {spec["name"]: spec for spec in model["schema"]["inputs"]}
    tensors = []
    for name, value in values.items():
        data = value if isinstance(value, list) else [value]
        datatype = specs[name]["datatype"] if name in specs else "BYTES"
        tensors.append({"name": name, "shape": [len(data)], "datatype": datatype, "data": data})
    return {"inputs": tensors}


def _placeholder(datatype: str) -> Any:
    if datatype == "BOOL":
        return False
    if datatype in ("STRING", "BYTES"):
        return "hello"
    return 1


def describe(url: str, token: str, models: list[dict[str, Any]]) -> str:
    """What the service prints once its models are ready."""
    base = url.rstrip("/")
    lines = [f"jupyter_inferless: serving {len(models)} model(s) at {base}/"]
    for model in models:
        name = model["name"]
        endpoint = f"{base}/{endpoint_path(name, model['streaming'])}"
        lines += [
            f"  {name}: {model['class']}, {'streaming' if model['streaming'] else 'non-streaming'}"
            f", on {model['device']['device']}",
            f"    POST {endpoint}",
            f"    GET  {base}/inferless/v2/models/{name}  (metadata)",
        ]
        body = example_body(model)
        if not model["streaming"]:
            body = v2_request(model, body)
        lines.append(
            f"    curl -N -H 'Authorization: token {token}' -H 'Content-Type: application/json' "
            f"-d {shlex.quote(json.dumps(body))} {endpoint}"
        )
    lines.append("Press Ctrl-C to stop (models are finalized).")
    return "\n".join(lines)
