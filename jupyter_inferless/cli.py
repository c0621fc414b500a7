"""``jupyter inferless …``: the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._version import __version__


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
        "until Ctrl-C (which finalizes the models).",
    )
    serve.add_argument("path", type=Path, help="a notebook (.ipynb), or a model directory / app.py")
    serve.add_argument("--port", type=int, default=8888, help="port to listen on (default 8888)")
    serve.add_argument("--name", help="model name for a model directory (default: its folder)")
    serve.add_argument("--token", help="the server's token (default: a random one)")
    serve.add_argument("--allow-root", action="store_true", help="allow running as root")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``jupyter-inferless``."""
    args = _parser().parse_args(argv)
    path: Path = args.path
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 2
    if path.is_file() and path.suffix not in (".ipynb", ".py"):
        print(f"error: {path} is neither a notebook (.ipynb) nor app.py", file=sys.stderr)
        return 2
    from .headless import HeadlessService

    return HeadlessService(path, args.port, args.name, args.token, args.allow_root).run()


if __name__ == "__main__":
    sys.exit(main())
