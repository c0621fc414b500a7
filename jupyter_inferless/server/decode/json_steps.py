"""A large JSON body read in steps: UTF-8 and JSON by bounded calls into C.

``json.loads`` holds the GIL for a whole document: about 20-30 ms per MiB of numbers here,
so a thread parsing a 10 MiB body would stop the server's loop for a quarter of a second.
``loads`` gives what ``json.loads(text, parse_constant=reject)`` gives, but no call it
makes holds the GIL for more than one window of text (WINDOW characters), so a decode
thread running it lets the loop in between.

How: after a container's ``[``, ``{`` or a ``,``, the text up to the last comma within the
window is parsed by the C parser as the container's next items (or members). Such a cut
parses only when it falls between two items of this container: inside a string it would
leave the string open, inside a nested container that container unclosed. When it does
not parse (a cut in the wrong place, or a real error), one item is read alone: a scalar by
the C scanner (a single string of any length is one fast call), a container by going into
it. Errors are json's own (``JSONDecodeError`` with the position, ``ValueError`` for a
``NaN`` or ``Infinity`` literal), and a document deeper than MAX_DEPTH raises
RecursionError as json.loads does.
"""

from __future__ import annotations

import json
import re
from json.scanner import make_scanner
from typing import Any

WINDOW = 32 * 1024  # characters parsed by one call of the C parser, at most
UTF8_STEP = 1024 * 1024  # bytes decoded by one call
MAX_DEPTH = 512
CUTS = 3  # cuts tried in a window before its items are read one call each

_WHITESPACE = re.compile(r"[ \t\n\r]*")


def reject_constant(name: str) -> Any:
    """``parse_constant`` for json: NaN, Infinity and -Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=reject_constant)
_SCAN = make_scanner(_DECODER)  # type: ignore[arg-type]  # typeshed: a scanner context


def decode_utf8(body: bytes) -> str:
    """``body.decode("utf-8")``, a step at a time (the same error when it is not UTF-8)."""
    view = memoryview(body)
    pieces: list[str] = []
    start = 0
    while start < len(body):
        end = min(len(body), start + UTF8_STEP)
        for _ in range(3):  # never cut a character: no piece starts with a continuation byte
            if end < len(body) and body[end] & 0xC0 == 0x80:
                end -= 1
        try:
            pieces.append(str(view[start:end], "utf-8"))
        except UnicodeDecodeError:
            body.decode("utf-8")  # raises with the position in the whole body
            raise
        start = end
    return "".join(pieces)


def loads(text: str, window: int = WINDOW) -> Any:
    """Parse one JSON document, as ``json.loads`` would, a window at a time."""
    stack: list[list[Any] | dict[str, Any]] = []
    keys: list[str] = []  # the key each open object is reading a value for
    i = _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
    while True:
        char = text[i : i + 1]
        if char in ("[", "{"):
            if len(stack) >= MAX_DEPTH:
                raise RecursionError("the JSON document is nested too deeply")
            container: list[Any] | dict[str, Any] = [] if char == "[" else {}
            i = _skip(text, i + 1)
            if text[i : i + 1] != ("]" if char == "[" else "}"):
                stack.append(container)
                i = _next_item(text, i, stack, keys, window)
                continue
            value: Any = container
            i += 1
        else:
            value, i = _scalar(text, i)
        while True:  # the value is complete: put it in its container, read what follows
            if not stack:
                i = _skip(text, i)
                if i != len(text):
                    raise json.JSONDecodeError("Extra data", text, i)
                return value
            parent = stack[-1]
            if isinstance(parent, list):
                parent.append(value)
            else:
                parent[keys.pop()] = value
            i = _skip(text, i)
            char = text[i : i + 1]
            if char == ",":
                i = _next_item(text, _skip(text, i + 1), stack, keys, window)
                break
            if char != ("]" if isinstance(parent, list) else "}"):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, i)
            value = stack.pop()
            i += 1


def _next_item(
    text: str,
    i: int,
    stack: list[list[Any] | dict[str, Any]],
    keys: list[str],
    window: int,
) -> int:
    """Take the open container's items a window at a time; return where its next item
    (for an object: its value, the key read here) starts."""
    container = stack[-1]
    while True:
        taken = _take_windows(text, i, window, container)
        if taken is None:
            taken = _take_each(text, i, window, container)
            if taken == i:
                break  # the next item does not end in a window: it is read in steps
        i = taken
    if isinstance(container, list):
        return i
    if text[i : i + 1] != '"':
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, i)
    key, i = _scalar(text, i)
    i = _skip(text, i)
    if text[i : i + 1] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", text, i)
    keys.append(key)
    return _skip(text, i + 1)


def _take_windows(
    text: str, i: int, window: int, container: list[Any] | dict[str, Any]
) -> int | None:
    """Take the items before the window's last comma, or before one of the CUTS last (a
    comma may stand in a string or a nested item); where the next item starts, or None."""
    cut = i + window
    for _ in range(CUTS):
        cut = text.rfind(",", i, cut)
        if cut <= i:
            return None
        if _take_window(text, i, cut, container):
            return _skip(text, cut + 1)
    return None


def _take_window(text: str, i: int, cut: int, container: list[Any] | dict[str, Any]) -> bool:
    """Parse ``text[i:cut]`` as the container's next items, if the cut falls between two."""
    if isinstance(container, list):
        opening, closing = "[", "]"
    else:
        opening, closing = "{", "}"
    try:
        items = _DECODER.decode(opening + text[i:cut] + closing)
    except (ValueError, RecursionError):
        return False  # not a cut between items, or an error that a later step names
    if isinstance(container, list):
        container.extend(items)
    else:
        container.update(items)
    return True


def _take_each(text: str, i: int, window: int, container: list[Any] | dict[str, Any]) -> int:
    """Take the items that end (with their comma) within the window from ``i``, one call
    each; return where the first one not taken starts."""
    part = text[i : i + window]
    taken = j = 0
    while True:
        try:
            if isinstance(container, dict):
                if part[j : j + 1] != '"':
                    break
                key, j = _SCAN(part, j)
                j = _skip(part, j)
                if part[j : j + 1] != ":":
                    break
                value, j = _SCAN(part, _skip(part, j + 1))
            else:
                value, j = _SCAN(part, j)
        except (StopIteration, ValueError, RecursionError):
            break  # cut by the window's end, or an error that a later step names
        j = _skip(part, j)
        if part[j : j + 1] != ",":
            break  # the last item, or one the window's end may have cut short
        if isinstance(container, dict):
            container[key] = value
        else:
            container.append(value)
        taken = j = _skip(part, j + 1)
    return i + taken


def _scalar(text: str, i: int) -> tuple[Any, int]:
    """A string, number, true, false or null at ``i``, and where it ends."""
    try:
        value, end = _SCAN(text, i)
    except StopIteration as stop:
        raise json.JSONDecodeError("Expecting value", text, stop.value) from None
    return value, int(end)


def _skip(text: str, i: int) -> int:
    return _WHITESPACE.match(text, i).end()  # type: ignore[union-attr]
