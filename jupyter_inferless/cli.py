"""``jupyter inferless …``: the command line."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._version import __version__

SOCKET_PATH_MAX = 107  # bytes of a Unix socket's path (sun_path, less its terminating NUL)
SOCKET_NAME = len("/kernel-00000000-0000-0000-0000-000000000000-ipc-99999")
"""The longest name jupyter_client gives a kernel's socket in its connection directory."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter inferless",
        description="Serve Inferless streaming models from Jupyter.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run a notebook (or serve a model directory) headless, as an HTTP/SSE service",
        description="Start a Jupyter server on 127.0.0.1 with a kernel, run the notebook or "
        "serve the model directory, print each model's endpoints and a curl line, and serve "
        "until Ctrl-C (which finalizes the models). On Linux the server reaches its kernel "
        "over IPC sockets in a private temporary directory (mode 0700, removed on exit); on "
        "other systems over TCP on 127.0.0.1: loopback only, but unencrypted, which the "
        "kernel warns about.",
    )
    serve.add_argument("path", type=Path, help="a notebook (.ipynb), or a model directory / app.py")
    serve.add_argument("--port", type=int, default=8888, help="port to listen on (default 8888)")
    serve.add_argument("--name", help="model name for a model directory (default: its folder)")
    serve.add_argument("--token", help="the server's token (default: a random one)")
    serve.add_argument("--allow-root", action="store_true", help="allow running as root")
    export = commands.add_parser(
        "export",
        help="write an Inferless model directory for a model a notebook serves",
        description="Write OUTDIR/app.py (the model's class and what it needs from the "
        "notebook), input_schema.py, inferless-runtime-config.yaml (the imported packages, "
        "pinned to the versions installed here) and README.md. Reads the notebook and never "
        "runs it (unless --execute). Refuses, naming it, what a model directory cannot carry: "
        "variables made interactively, definitions from cells that also do other work, local "
        "files, names no cell defines, symbolic links, likely secrets.",
    )
    export.add_argument("notebook", type=Path, help="the notebook (.ipynb) that serves the model")
    export.add_argument("outdir", type=Path, help="the model directory to write")
    export.add_argument(
        "--model", help="the served name of the model (needed when the notebook serves several)"
    )
    export.add_argument(
        "--force", action="store_true", help="write into OUTDIR even when it is not empty"
    )
    export.add_argument(
        "--execute",
        action="store_true",
        help="run the notebook in a fresh kernel first (up to the cell that serves the model), "
        "as `jupyter nbconvert --execute` does, and export the values it holds",
    )
    export.add_argument(
        "--allow-secrets",
        action="store_true",
        help="export constants that look like secrets (API keys, tokens) as they are",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``jupyter-inferless``."""
    args = _parser().parse_args(argv)
    if args.command == "export":
        return export(
            args.notebook, args.outdir, args.model, args.force, args.execute, args.allow_secrets
        )
    path: Path = args.path
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 2
    if path.is_file() and path.suffix not in (".ipynb", ".py"):
        print(f"error: {path} is neither a notebook (.ipynb) nor app.py", file=sys.stderr)
        return 2
    return serve(path.resolve(), args.port, args.name, args.token, args.allow_root)


def serve(target: Path, port: int, name: str | None, token: str | None, allow_root: bool) -> int:
    """Run the extension's server on 127.0.0.1, serving ``target``; its exit code."""
    from .server.app import InferlessExtension

    # The server's root is the folder: the notebook's, the model directory, or app.py's.
    folder = target.parent if target.is_file() else target
    argv = [
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={folder}",
        f"--IdentityProvider.token={token or secrets.token_hex(24)}",
        f"--ServerApp.allow_root={allow_root}",
        f"--InferlessExtension.serve_path={target}",
        f"--InferlessExtension.serve_name={name or ''}",
    ]
    with kernel_sockets_dir() as sockets:
        if sockets is not None:
            argv.append("--KernelManager.transport=ipc")
        serverapp = InferlessExtension.initialize_server(argv=argv)
        if sockets is not None:  # the kernel's connection file, and its sockets beside it
            serverapp.kernel_manager.connection_dir = sockets
        app = serverapp.starter_app
        assert isinstance(app, InferlessExtension)
        stop_on_signals(serverapp)
        serverapp.start()
    return app.exit_code


@contextmanager
def kernel_sockets_dir(parent: str | None = None) -> Iterator[str | None]:
    """On Linux, a private directory (mode 0700, removed on exit; in ``parent``, by default
    the system's temporary one) for the kernel's IPC sockets; None elsewhere, or when its
    path leaves no room for a socket's name: the kernel then listens on TCP at 127.0.0.1."""
    if not sys.platform.startswith("linux"):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="inferless-", dir=parent) as path:
        fits = len(os.fsencode(path)) + SOCKET_NAME <= SOCKET_PATH_MAX
        yield path if fits else None


def stop_on_signals(serverapp: Any) -> None:
    """Ctrl-C and SIGTERM stop the server (no "shut down?" question): models finalize."""

    def stop(*_: Any) -> None:
        print("\nstopping: finalizing models", flush=True)
        serverapp.stop(from_signal=True)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def export(
    notebook: Path,
    outdir: Path,
    model: str | None,
    force: bool,
    execute: bool = False,
    allow_secrets: bool = False,
) -> int:
    """Export a notebook's served model to a model directory; 2 when it is refused."""
    from .export import ExportError, export_executed, export_notebook

    if notebook.suffix != ".ipynb":
        print(f"error: {notebook} is not a notebook (.ipynb)", file=sys.stderr)
        return 2
    try:
        if execute:  # says so, on stdout, before the kernel starts
            print(export_executed(notebook, outdir, model, force, allow_secrets, _say))
            return 0
        exported = export_notebook(notebook, outdir, model, force, allow_secrets)
    except (ExportError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(exported.describe())
    return 0


def _say(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":
    sys.exit(main())
