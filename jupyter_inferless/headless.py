"""``jupyter inferless serve PATH``: the extension, launched as an app, serves one target.

The command line (``cli.py``) initializes
:class:`~jupyter_inferless.server.app.InferlessExtension` the ExtensionApp way
(``initialize_server``) with ``serve_path`` set, and starts the server. Once it runs, the
extension starts a kernel, runs the notebook (or serves the model directory) in it and
prints each model's endpoints. Ctrl-C stops the server (the command line's signal
handlers; the extension installs none): the extension ends open streams, and the kernel's
graceful shutdown runs every model's ``finalize()``.

The server hands its kernels no token; this command, which launched the server and prints
its token, gives it to the one kernel it starts as ``$JUPYTER_TOKEN`` (unless set), as a
user does, so that a notebook's own HTTP clients (``jupyter_inferless.connection()``) work.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import nbformat
from jupyter_server.utils import ApiPath

from .contract import InferlessError, endpoint_path
from .contract.datatypes import infer_datatype

READY_TIMEOUT = 30.0


class HeadlessError(InferlessError, RuntimeError):
    """The notebook or model directory could not be served."""


class HeadlessRun:
    """Runs one target in a new kernel of ``serverapp`` and prints where its models are."""

    def __init__(self, serverapp: Any, service: Any, target: Path, name: str | None) -> None:
        self.exit_code = 0
        """How the run ended, for the command line: 0, or 1 when the target failed."""
        self.serverapp = serverapp
        self.service = service
        self.target = target.resolve()
        self.name = name or None
        self.kernel_id: str | None = None
        self.client: Any = None

    async def start(self) -> None:
        """Start the kernel, serve the target, print the endpoints; stop the server on failure."""
        try:
            await self._start_kernel()
            if self.target.suffix == ".ipynb":
                await self._run_notebook()
            else:
                call = f"jupyter_inferless.serve({str(self.target)!r}, name={self.name!r})"
                await self._execute(f"import jupyter_inferless\n{call}", "serve")
            models = await self._wait_for_models()
            token = self.serverapp.identity_provider.token
            print(describe(self.serverapp.connection_url, token, models), flush=True)
        except HeadlessError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            self.exit_code = 1
            self.serverapp.stop()

    def close(self) -> None:
        """Stop the kernel client (the server shuts the kernel down)."""
        if self.client is not None:
            self.client.stop_channels()

    async def _start_kernel(self) -> None:
        manager = self.serverapp.kernel_manager
        env = dict(os.environ)
        token = self.serverapp.identity_provider.token
        if token and not env.get("JUPYTER_TOKEN"):
            env["JUPYTER_TOKEN"] = token  # for the notebook's own clients: connection()
        self.kernel_id = await manager.start_kernel(path=ApiPath(""), env=env)
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
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
        while asyncio.get_running_loop().time() < deadline:
            models = await self.service.list_models()
            mine = [model for model in models if model["kernel_id"] == self.kernel_id]
            if mine:
                return mine
            await asyncio.sleep(0.1)
        raise HeadlessError(f"{self.target.name} ran, but served no model (call %inferless serve)")


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
        datatype = specs[name]["datatype"] if name in specs else infer_datatype(data)
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
