"""Real kernels started by the test's Jupyter server, driven like a notebook."""

from __future__ import annotations

import asyncio
import textwrap
from typing import Any


class NotebookKernel:
    """A kernel of the server, driven like a notebook: run cells, read their output."""

    def __init__(self, kernel_id: str, client: Any) -> None:
        self.kernel_id = kernel_id
        self.client = client

    async def run(self, code: str, timeout: float = 120.0, allow_error: bool = False) -> str:
        """Run a cell; return its printed text; raise with the traceback on error."""
        texts: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind = msg["header"]["msg_type"]
            content = msg["content"]
            if kind == "stream":
                texts.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                texts.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                errors.append("\n".join(content["traceback"]))

        reply = await self.client.execute_interactive(
            textwrap.dedent(code), output_hook=hook, timeout=timeout
        )
        if reply["content"]["status"] != "ok" and not allow_error:
            raise AssertionError("cell failed:\n" + "\n".join(errors))
        return "".join(texts) + "".join(errors)

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
