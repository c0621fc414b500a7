"""Likely secrets in the code export would write: refused unless ``--allow-secrets``.

Two signs, each enough:

- a module-level constant whose name ends in the word ``KEY``, ``TOKEN``, ``SECRET`` or
  ``PASSWORD`` (name parts split on ``_`` and case: ``API_KEY``, ``hf_token``,
  ``dbPassword``; not ``TOKENIZER_NAME``, ``KEY_COLUMNS``, ``max_tokens``, ``MONKEY``, nor a
  tokenizer's ``EOS_TOKEN``), assigned a string written in the code;
- any string of the code shaped like a known key (``sk-…``, ``hf_…``, ``AKIA…``,
  ``ghp_…``, ``xoxb-…``), whatever its name.

A value read from the environment (``os.environ["API_KEY"]``, ``os.getenv("API_KEY")``)
is not a secret: only the variable's name is written.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .statements import is_env_read

SECRET_WORDS = frozenset({"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD"})
SPECIAL_TOKENS = frozenset(
    {"PAD", "EOS", "BOS", "UNK", "SEP", "CLS", "MASK", "START", "END", "STOP", "SPECIAL",
     "IMAGE", "IMG", "AUDIO", "VIDEO", "SYSTEM", "USER", "ASSISTANT", "TOOL", "THINK"}
)  # fmt: skip
"""Words before TOKEN that name a tokenizer's token, not a credential."""
_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


@dataclass(frozen=True)
class Shape:
    """A known shape of credential."""

    what: str
    variable: str
    """The environment variable such a key is usually kept in."""
    pattern: re.Pattern[str]


SHAPES = (
    Shape("an OpenAI API key", "OPENAI_API_KEY",
          re.compile(r"(?<![\w-])sk-(?=[\w-]*[0-9])[A-Za-z0-9_-]{20,}")),
    Shape("a Hugging Face token", "HF_TOKEN", re.compile(r"(?<![\w-])hf_[A-Za-z0-9]{30,}")),
    Shape("an AWS access key id", "AWS_ACCESS_KEY_ID",
          re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])")),
    Shape("a GitHub token", "GITHUB_TOKEN",
          re.compile(r"(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    Shape("a Slack token", "SLACK_TOKEN", re.compile(r"(?<![\w-])xox[abposr]-[A-Za-z0-9-]{10,}")),
)  # fmt: skip


def name_parts(name: str) -> list[str]:
    """``openai_api_key`` → OPENAI, API, KEY; ``dbPassword`` → DB, PASSWORD."""
    return [part.upper() for part in _PARTS.findall(name)]


def is_secret_name(name: str) -> bool:
    """Whether a constant of this name holds a credential (its last word says so)."""
    parts = [part for part in name_parts(name) if not part.isdigit()]
    if not parts or parts[-1] not in SECRET_WORDS:
        return False
    return not (parts[-1] == "TOKEN" and len(parts) > 1 and parts[-2] in SPECIAL_TOKENS)


def shape_of(value: str) -> Shape | None:
    """The known credential shape ``value`` holds, if any."""
    return next((shape for shape in SHAPES if shape.pattern.search(value)), None)


def written_strings(node: ast.AST) -> list[tuple[int, str]]:
    """The non-empty string literals of ``node`` (line, value), but the names of
    environment variables (the first argument of ``os.getenv``, the key of
    ``os.environ[…]``)."""
    skipped: set[int] = set()
    for item in ast.walk(node):
        if isinstance(item, ast.Subscript) and is_env_read(item):
            skipped.add(id(item.slice))
        elif isinstance(item, ast.Call) and is_env_read(item):
            skipped.add(id(item.args[0]))
    return [
        (item.lineno, item.value)
        for item in ast.walk(node)
        if isinstance(item, ast.Constant)
        and isinstance(item.value, str)
        and item.value.strip()
        and id(item) not in skipped
    ]


def secrets_in(units: Iterable[tuple[str, ast.stmt]]) -> list[str]:
    """One problem per likely secret in these top-level statements (each labelled by where
    it is: "cell 3", "app.py")."""
    problems = []
    for label, node in units:
        named = _constant_names(node)
        flagged = [name for name in named if is_secret_name(name)]
        strings = written_strings(node)
        if flagged and strings:
            why = "its name ends in a word that names a credential and its value is written here"
            problems.append(_named(flagged[0], label, node.lineno, why))
            continue
        for line, value in strings:
            shape = shape_of(value)
            if shape is None:
                continue
            if named:
                problems.append(_named(named[0], label, line, f"its value holds {shape.what}"))
            else:
                problems.append(_shaped(shape, value, label, line))
    return problems


def _constant_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign):
        targets = [node.target]
    else:
        return []
    return [
        item.id for target in targets for item in ast.walk(target) if isinstance(item, ast.Name)
    ]


ALLOW = "or pass --allow-secrets to export it as it is"


def _named(name: str, label: str, line: int, why: str) -> str:
    return (
        f"the constant {name!r} ({label}, line {line}) looks like a secret: {why}, so the "
        f"exported app.py would carry it in plain text. Read it from the environment "
        f'instead: `import os` and `{name} = os.environ["{name}"]`, and set {name} as a '
        f"secret or environment variable of the model on Inferless; {ALLOW}"
    )


def _shaped(shape: Shape, value: str, label: str, line: int) -> str:
    shown = value.strip()[:4] + "…"
    return (
        f"a string in {label}, line {line} ({shown!r}) looks like {shape.what}, so the "
        f"exported app.py would carry it in plain text. Read it from the environment "
        f'instead: `os.environ["{shape.variable}"]`, and set {shape.variable} as a secret or '
        f"environment variable of the model on Inferless; {ALLOW}"
    )
