"""Rules the kernel, the server and the clients share: model names, endpoints, defaults.

Each is defined here once; nothing else spells out the name pattern, the endpoint
verbs or the serving defaults.
"""

from __future__ import annotations

import re

from .errors import ModelNameError

MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

STREAM_VERB = "generate_stream"
INFER_VERB = "infer"
MODELS_PATH = "inferless/v2/models/"

# Templates often share one streamer between requests, so one request runs at a time.
DEFAULT_MAX_CONCURRENCY = 1
# Requests waiting beyond those running; past both the server answers 429.
DEFAULT_QUEUE_SIZE = 16


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a valid model name, else raise ModelNameError saying why."""
    if not MODEL_NAME_PATTERN.match(name):
        raise ModelNameError(
            f"invalid model name {name[:80]!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def endpoint_verb(streaming: bool) -> str:
    """The endpoint a client posts to: ``generate_stream`` when streaming, else ``infer``."""
    return STREAM_VERB if streaming else INFER_VERB


def endpoint_path(name: str, streaming: bool) -> str:
    """The model's endpoint under the server's base URL."""
    return f"{MODELS_PATH}{name}/{endpoint_verb(streaming)}"
