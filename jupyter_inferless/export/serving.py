"""Which models a notebook serves: ``%inferless serve`` lines and ``jupyter_inferless.serve``
calls, with the name each model is served under."""

from __future__ import annotations

import argparse
import ast
import shlex
from dataclasses import dataclass

from .statements import Aliases, Statement


@dataclass(frozen=True)
class Target:
    """What a serve statement serves, as written."""

    text: str
    """The target as the user wrote it, for messages."""
    name: str | None = None
    """A name in the notebook (a class, or an instance of one)."""
    instance_of: str | None = None
    """``serve(Model(), …)``: the class called."""
    string: str | None = None
    """A string: a name in the notebook, or else a model directory / app.py path."""


@dataclass(frozen=True)
class ServeSite:
    """One serve statement."""

    statement: Statement
    target: Target
    name: str | None
    """The name given (``--name``, ``name=``); None for the default."""
    input_schema: ast.expr | None = None
    streaming: ast.expr | None = None


class _Quiet(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ValueError(message)


def _magic_parser() -> argparse.ArgumentParser:
    parser = _Quiet(add_help=False)
    parser.add_argument("target")
    parser.add_argument("--name")
    parser.add_argument("--max-concurrency")
    parser.add_argument("--queue-size")
    return parser


def serve_sites(statements: list[Statement], aliases: Aliases) -> list[ServeSite]:
    """Every serve statement, in execution order."""
    sites = []
    for statement in statements:
        for node in ast.walk(statement.node):
            if isinstance(node, ast.Call):
                site = _magic_site(statement, node) or _call_site(statement, node, aliases)
                if site is not None:
                    sites.append(site)
    return sites


def _magic_site(statement: Statement, call: ast.Call) -> ServeSite | None:
    """``get_ipython().run_line_magic('inferless', 'serve TARGET --name N')``."""
    func = call.func
    if not (
        isinstance(func, ast.Attribute)
        and func.attr == "run_line_magic"
        and len(call.args) == 2
        and all(isinstance(arg, ast.Constant) for arg in call.args)
    ):
        return None
    magic, line = (arg.value for arg in call.args)  # type: ignore[attr-defined]
    if magic != "inferless" or not isinstance(line, str):
        return None
    try:
        words = shlex.split(line)
        if not words or words[0] != "serve":
            return None
        args = _magic_parser().parse_args(words[1:])
    except ValueError:
        return None
    return ServeSite(statement, Target(args.target, string=args.target), args.name)


def _call_site(statement: Statement, call: ast.Call, aliases: Aliases) -> ServeSite | None:
    """``jupyter_inferless.serve(Target, name=…, input_schema=…, streaming=…)``."""
    func = call.func
    if isinstance(func, ast.Attribute):
        is_serve = (
            func.attr == "serve"
            and isinstance(func.value, ast.Name)
            and func.value.id in aliases.modules
        )
    else:
        is_serve = isinstance(func, ast.Name) and func.id in aliases.serve
    keywords = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
    target_node = call.args[0] if call.args else keywords.get("target")
    if not is_serve or target_node is None:
        return None
    name_node = keywords.get("name")
    name = None
    if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str):
        name = name_node.value
    elif name_node is not None and not (
        isinstance(name_node, ast.Constant) and name_node.value is None
    ):
        return None  # a computed name: not a model export can identify
    return ServeSite(
        statement,
        _target(target_node),
        name,
        keywords.get("input_schema"),
        keywords.get("streaming"),
    )


def _target(node: ast.expr) -> Target:
    text = ast.unparse(node)
    if isinstance(node, ast.Name):
        return Target(text, name=node.id)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return Target(text, string=node.value)
    called = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    if called and not node.args and not node.keywords:  # type: ignore[attr-defined]
        return Target(text, instance_of=node.func.id)  # type: ignore[attr-defined]
    return Target(text)
