"""The Inferless model contract, as pure rules: INPUT_SCHEMA, datatypes, inputs, errors,
and the rules both processes share (model names, endpoints, defaults).

Nothing here imports Jupyter, tornado, torch or the user's code, so the kernel, the
server and the clients all use it. What runs the user's model lives in
``jupyter_inferless.kernel.model``.
"""

from .errors import (
    InferlessError,
    InputError,
    ModelContractError,
    ModelNameError,
    OutputError,
    SchemaError,
    StreamCancelled,
    StreamFinishedError,
)
from .inputs import decode_body, decode_query, decode_tensors, decode_values
from .rules import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_QUEUE_SIZE,
    INFER_VERB,
    STREAM_VERB,
    check_model_name,
    endpoint_path,
    endpoint_verb,
)
from .schema import InputSpec, ModelSchema, parse_input_schema

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_QUEUE_SIZE",
    "INFER_VERB",
    "STREAM_VERB",
    "InferlessError",
    "InputError",
    "InputSpec",
    "ModelContractError",
    "ModelNameError",
    "ModelSchema",
    "OutputError",
    "SchemaError",
    "StreamCancelled",
    "StreamFinishedError",
    "check_model_name",
    "decode_body",
    "decode_query",
    "decode_tensors",
    "decode_values",
    "endpoint_path",
    "endpoint_verb",
    "parse_input_schema",
]
