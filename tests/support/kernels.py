"""Running code in a kernel as a notebook does: the one helper of the tests and benchmarks.

``Cell`` collects what a cell shows (its output hook) and fails with the traceback;
``run_cell`` runs one with a blocking client (JupyterLab subprocesses, the benchmarks),
``NotebookKernel.run`` with the async client of a kernel the test's server started.
"""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_client import BlockingKernelClient

_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def output_text(kind: str, content: Mapping[str, Any]) -> str | None:
    """The text of one output, of an IOPub message or of a saved notebook's cell: what was
    printed, a result's or display's plain text, an error's traceback (without colours);
    None for any other kind of output."""
    if kind == "stream":
        return str(content["text"])
    if kind in ("execute_result", "display_data"):
        return str(content["data"].get("text/plain", ""))
    if kind == "error":
        return _COLOURS.sub("", "\n".join(content["traceback"]))
    return None


class CellError(AssertionError):
    """A cell raised; the message holds its traceback."""


class Cell:
    """One cell's code and what it showed; ``hook`` is execute_interactive's output hook."""

    def __init__(self, code: str) -> None:
        self.code = textwrap.dedent(code)
        self.texts: list[str] = []
        self.errors: list[str] = []

    def hook(self, msg: dict[str, Any]) -> None:
        kind = msg["header"]["msg_type"]
        text = output_text(kind, msg["content"])
        if text is not None:
            (self.errors if kind == "error" else self.texts).append(text)

    def output(self, reply: dict[str, Any], allow_error: bool) -> str:
        """The text the cell showed, tracebacks last; raise CellError if it failed."""
        if reply["content"]["status"] != "ok" and not allow_error:
            raise CellError("cell failed:\n" + "\n".join(self.errors))
        return "".join(self.texts) + "".join(self.errors)


def run_cell(client: Any, code: str, timeout: float = 120.0, allow_error: bool = False) -> str:
    """Run ``code`` with a blocking kernel client; what it showed (see Cell.output)."""
    cell = Cell(code)
    reply = client.execute_interactive(cell.code, output_hook=cell.hook, timeout=timeout)
    return cell.output(reply, allow_error)


def connect(connection_file: Path, timeout: float = 60.0) -> BlockingKernelClient:
    """A blocking client of a running kernel, its channels started and the kernel ready."""
    client = BlockingKernelClient(connection_file=str(connection_file))
    client.load_connection_file()
    client.start_channels()
    client.wait_for_ready(timeout=timeout)
    return client


class NotebookKernel:
    """A kernel of the server, driven like a notebook: run cells, read their output."""

    def __init__(self, kernel_id: str, client: Any) -> None:
        self.kernel_id = kernel_id
        self.client = client

    async def run(self, code: str, timeout: float = 120.0, allow_error: bool = False) -> str:
        """Run a cell; return its printed text; raise with the traceback on error."""
        cell = Cell(code)
        reply = await self.client.execute_interactive(
            cell.code, output_hook=cell.hook, timeout=timeout
        )
        return cell.output(reply, allow_error)

    def run_in_background(self, code: str) -> asyncio.Task[str]:
        """Start a cell without waiting for it."""
        return asyncio.ensure_future(self.run(code))


async def start_kernel(serverapp: Any) -> NotebookKernel:
    """Start an ipykernel through the server and load the extension in it."""
    manager = serverapp.kernel_manager
    kernel_id = await manager.start_kernel()
    client = manager.get_kernel(kernel_id).client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    notebook = NotebookKernel(kernel_id, client)
    await notebook.run("%load_ext jupyter_inferless")
    return notebook


async def stop_kernel(serverapp: Any, notebook: NotebookKernel) -> None:
    """Shut a kernel down through the server."""
    notebook.client.stop_channels()
    if notebook.kernel_id in serverapp.kernel_manager:
        await serverapp.kernel_manager.shutdown_kernel(notebook.kernel_id, now=True)
