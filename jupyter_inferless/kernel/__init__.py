"""Runs inside ipykernel: the magics, the served models, the comm link to the server."""

from __future__ import annotations

from typing import Any

from .runtime import Runtime, Served


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext jupyter_inferless``: register the magics and start the runtime."""
    from .magics import InferlessMagics

    shell.register_magics(InferlessMagics)
    if getattr(shell, "kernel", None) is not None:
        Runtime.current()


def unload_ipython_extension(shell: Any) -> None:
    """Stop every served model."""
    runtime = Runtime._instance
    if runtime is not None:
        runtime.stop_all()


__all__ = ["Runtime", "Served", "load_ipython_extension", "unload_ipython_extension"]
