"""The inline stream view: ``%inferless stream NAME key=value ...`` and :func:`stream`.

The view streams from the Jupyter server this kernel is attached to over the kernel's
own link to it (``watch`` messages on the serving comm: no URL, no credential), on a
background thread: the cell returns at once and the notebook stays usable while
tokens arrive.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..contract.datatypes import parse_text
from ..contract.errors import InputError
from ..contract.inputs import decode_values
from .link_client import link_client
from .runner import Source, StreamRun, local_schema, remote_schema
from .view import StreamView

if TYPE_CHECKING:
    from ..contract.schema import ModelSchema

__all__ = ["StreamView", "parse_assignments", "stream", "stream_command"]


def stream(name: str, /, **inputs: Any) -> StreamView:
    """Stream ``name`` with ``inputs`` into a view shown in this cell; return the view.

    Inputs are checked against the model's INPUT_SCHEMA first, so an unknown or
    missing input is an error here rather than in the view.
    """
    client = link_client()
    try:
        decode_values(schema_of(client, name), inputs)  # raises InputError naming the input
    except BaseException:
        client.close()
        raise
    return _start(client, name, inputs)


def stream_command(name: str, assignments: list[str]) -> StreamView:
    """``%inferless stream NAME key=value ...``: values are coerced by the model's schema."""
    texts = parse_assignments(assignments)
    client = link_client()
    try:
        inputs = coerce_texts(schema_of(client, name), texts)
    except BaseException:
        client.close()
        raise
    return _start(client, name, inputs)


def parse_assignments(words: list[str]) -> dict[str, str]:
    """``["n=5", "prompt=a fine house"]`` → ``{"n": "5", "prompt": "a fine house"}``."""
    texts: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InputError(f"expected key=value, got {word!r} (quote values with spaces)")
        if key in texts:
            raise InputError(f"input {key!r} is given twice", key)
        texts[key] = value
    return texts


def coerce_texts(schema: ModelSchema, texts: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``key=value`` texts into input values of the datatypes the schema declares.

    Without a declared INPUT_SCHEMA, numbers and true/false are read as JSON and
    anything else stays a string.
    """
    if not schema.declared:
        return {key: _guess(text) for key, text in texts.items()}
    values: dict[str, Any] = {}
    for key, text in texts.items():
        spec = schema.by_name.get(key)
        if spec is None:
            values[key] = text  # decode_values names it as unknown, with the inputs
            continue
        try:
            values[key] = parse_text(text, spec.datatype)
        except ValueError as err:
            raise InputError(f"input {key!r} ({spec.datatype}): {err}", key) from None
    return decode_values(schema, values)


def schema_of(client: Source, name: str) -> ModelSchema:
    """The model's parsed INPUT_SCHEMA: from this kernel when it serves it, else the server."""
    schema = local_schema(name)
    if schema is None:
        schema = remote_schema(client, name)
    return schema


def _start(client: Source, name: str, inputs: dict[str, Any]) -> StreamView:
    view = StreamView(name)
    StreamRun(client, name, inputs, view).start()
    view.show()
    return view


def _guess(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (bool, int, float)) else text
