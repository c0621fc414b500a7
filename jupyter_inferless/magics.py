"""``%load_ext jupyter_inferless`` and ``%inferless``: parse arguments, then delegate.

The magics sit above both the kernel runtime (serve, list, stop) and the inline view
(stream), so that neither of those imports the other's way back.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class

from .contract import DEFAULT_MAX_CONCURRENCY, DEFAULT_QUEUE_SIZE, InferlessError, endpoint_path
from .kernel.runtime import Runtime
from .kernel.served import ServeOptions


class MagicUsageError(InferlessError, ValueError):
    """The magic's arguments are wrong."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit the kernel
        raise MagicUsageError(f"{message}\n\n{USAGE}")


USAGE = """usage:
  %inferless serve TARGET [--name NAME] [--max-concurrency N] [--queue-size N]
  %inferless list
  %inferless stop NAME
  %inferless stream NAME [key=value ...]
  %inferless export NAME OUTDIR [--force] [--allow-secrets]
TARGET is a class or instance in the notebook, or a model directory / app.py path.
export writes a served model as an Inferless model directory (app.py, input_schema.py,
inferless-runtime-config.yaml, README.md) from the cells run so far; --allow-secrets
exports constants that look like API keys or tokens as they are.
stream shows the model's stream inline; values are read by the model's INPUT_SCHEMA
(quote values with spaces: prompt="a fine house")."""


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%inferless", add_help=False)
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    serve = commands.add_parser("serve", add_help=False)
    serve.add_argument("target")
    serve.add_argument("--name")
    serve.add_argument("--max-concurrency", type=int, default=DEFAULT_MAX_CONCURRENCY)
    serve.add_argument("--queue-size", type=int, default=DEFAULT_QUEUE_SIZE)
    commands.add_parser("list", add_help=False)
    stop = commands.add_parser("stop", add_help=False)
    stop.add_argument("name")
    stream = commands.add_parser("stream", add_help=False)
    stream.add_argument("name")
    stream.add_argument("inputs", nargs="*")
    export = commands.add_parser("export", add_help=False)
    export.add_argument("name")
    export.add_argument("outdir")
    export.add_argument("--force", action="store_true")
    export.add_argument("--allow-secrets", action="store_true")
    return parser


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext jupyter_inferless``: register the magics and start the runtime."""
    shell.register_magics(InferlessMagics)
    if getattr(shell, "kernel", None) is not None:
        Runtime.current()


def unload_ipython_extension(shell: Any) -> None:
    """``%unload_ext jupyter_inferless``: undo the load. The runtime closes (every model
    stopped and finalized, the views and every thread stopped, ``do_shutdown`` and the comm
    target the kernel's own again) and the magics are unregistered, so that a later
    ``%load_ext`` starts clean."""
    runtime = Runtime.existing()
    if runtime is not None:
        runtime.close()
    unregister_magics(shell)


def unregister_magics(shell: Any) -> None:
    """Take back what ``register_magics(InferlessMagics)`` put in the shell's tables
    (IPython has no call for it), leaving any name another extension took since."""
    manager = shell.magics_manager
    ours = manager.registry.get(InferlessMagics.__name__)
    if not isinstance(ours, InferlessMagics):
        return
    del manager.registry[InferlessMagics.__name__]
    for kind, table in manager.magics.items():
        for name, func in ours.magics.get(kind, {}).items():
            if table.get(name) == func:
                del table[name]


@magics_class
class InferlessMagics(Magics):
    """``%inferless serve|list|stop|stream|export``."""

    @line_magic
    def inferless(self, line: str) -> Any:
        """Serve, list and stop models; ``%inferless`` alone prints the usage."""
        words = shlex.split(line)
        if not words:
            print(USAGE)
            return None
        args = _parser().parse_args(words)
        if args.command == "stream":
            from .widget import stream_command  # ipywidgets only when a stream is shown

            return stream_command(args.name, args.inputs)
        runtime = Runtime.current()
        if args.command == "serve":
            options = ServeOptions(
                name=args.name, max_concurrency=args.max_concurrency, queue_size=args.queue_size
            )
            served = runtime.serve(args.target, options)
            print(describe_served(runtime, served.name))
            return None
        if args.command == "export":
            print(
                export_served_model(
                    self.shell, runtime, args.name, args.outdir, args.force, args.allow_secrets
                )
            )
            return None
        if args.command == "stop":
            runtime.stop(args.name)
            print(f"stopped {args.name!r}")
            return None
        print(describe_listing(runtime))
        return None


def export_served_model(
    shell: Any, runtime: Runtime, name: str, outdir: str, force: bool, allow_secrets: bool = False
) -> str:
    """``%inferless export``: the served model, from the cells run so far and the live model
    (its class, schema and streaming flag as served); what was written."""
    from .export import ExportError, LiveModel, export_served

    model = runtime.models.get(name)
    if model is None:
        served = ", ".join(sorted(runtime.models)) or "none"
        raise ExportError(f"no model named {name!r} is served by this kernel (served: {served})")
    cls = type(model.adapter.instance)
    if model.source == "notebook" and shell.user_ns.get(cls.__name__) is not cls:
        raise ExportError(
            f"cannot export {name!r}: its class {cls.__name__} is no longer what the name "
            f"{cls.__name__} holds in the notebook; serve it again, then export"
        )
    schema = None
    if model.schema.declared:
        schema = {spec.name: spec.to_json() for spec in model.schema.inputs}
        for spec in schema.values():
            del spec["name"]
    live = LiveModel(name, cls.__name__, model.source, schema, model.schema.streaming)
    inputs = list(shell.history_manager.input_hist_raw)
    folder = Path(outdir).expanduser()
    exported = export_served(inputs, live, folder, Path.cwd(), force, allow_secrets)
    return exported.describe()


def describe_served(runtime: Runtime, name: str) -> str:
    """The lines printed after serving a model."""
    model = runtime.models[name]
    info = model.describe()
    device = info["device"]
    where = (
        device["name"] if device["device"] == "cpu" else f"{device['device']} ({device['name']})"
    )
    inputs = (
        ", ".join(
            f"{spec['name']}: {spec['datatype']}{spec['shape']}"
            + ("" if spec["required"] else " optional")
            for spec in info["schema"]["inputs"]
        )
        or "any (no INPUT_SCHEMA)"
    )
    kind = "streaming" if info["streaming"] else "non-streaming"
    base = (runtime.server_url(wait=1.0) or "<jupyter server>/").rstrip("/")
    lines = [
        f"serving {name!r} ({info['class']}, {kind}) on {where}",
        f"  inputs: {inputs}",
        f"  POST {base}/{endpoint_path(name, info['streaming'])}",
        *[f"  {note}" for note in info["notes"]],
    ]
    verdict = runtime.verdict(name)
    if verdict is not None and verdict["replicas"] > 1:
        lines.append(f"  one of {verdict['replicas']} replicas: the server spreads the requests")
    return "\n".join(lines)


def describe_listing(runtime: Runtime) -> str:
    """The lines printed by ``%inferless list``: each model of this kernel, with the
    replicas the linked server counts for its name (or why it refuses this one)."""
    if not runtime.models:
        return "no models are served from this kernel"
    rows = []
    for info in runtime.describe_models():
        kind = "streaming" if info["streaming"] else "non-streaming"
        active = len(runtime.models[info["name"]].active)
        rows.append(
            f"{info['name']}: {info['class']} ({kind}) on {info['device']['device']}, "
            f"{active} active, max concurrency {info['max_concurrency']}"
            + _replicas_text(runtime, info["name"])
        )
    return "\n".join(rows)


def _replicas_text(runtime: Runtime, name: str) -> str:
    verdict = runtime.verdict(name)
    if verdict is None:
        return ""  # no server linked (or it has not answered yet)
    if verdict["refused"]:
        return f"; refused by the server: {verdict['refused']}"
    count = verdict["replicas"]
    return f", {count} replica{'' if count == 1 else 's'} on the server"
