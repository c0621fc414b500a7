"""Text from the notebook, made safe for the files export writes.

Names are checked by the model-name rule before they name anything. Every other string
that reaches a generated file is escaped by construction: :func:`docstring` writes a
string literal no text can end early (no unescaped quote, every backslash paired), and
:func:`one_line` keeps a comment or a Markdown line on its one line.
"""

from __future__ import annotations

import shlex

from ..contract import ModelNameError, check_model_name
from .errors import ExportError


def checked_name(name: str, where: str) -> str:
    """``name`` if the model-name rule accepts it (it names a folder and a URL path)."""
    try:
        return check_model_name(name)
    except ModelNameError as err:
        raise ExportError(f"cannot export {where}: {err}") from None


def escaped(text: str) -> str:
    """``text`` with backslashes, double quotes and unprintable characters (line breaks
    included) escaped as in a Python string literal; printable non-ASCII stays."""
    out = []
    for char in text:
        if char in '\\"':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def docstring(text: str) -> str:
    """A triple-quoted string literal whose value is exactly ``text``."""
    return f'"""{escaped(text)}"""'


def one_line(text: str) -> str:
    """``text`` on one line (line breaks and control characters escaped)."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def shell_word(text: str) -> str:
    """``text`` as one shell word, on one line, for a command shown to copy."""
    return shlex.quote(one_line(text))
