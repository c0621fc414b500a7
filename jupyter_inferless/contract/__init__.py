"""The Inferless model contract, as pure rules: INPUT_SCHEMA, datatypes, inputs, errors,
how deep a request may nest, and the rules both processes share (model names, endpoints,
defaults).

Nothing here imports Jupyter, tornado, torch or the user's code, so the kernel, the
server and the clients all use it; jsonschema, which validates requests against the
schemas the OpenAPI document publishes, is imported on the first validation. What runs
the user's model lives in ``jupyter_inferless.kernel.model``.
"""

from .depth import (
    DEFAULT_MAX_INPUT_DEPTH,
    MAX_INPUT_DEPTH,
    check_depth,
    depth_of,
    too_deep_to_parse,
)
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
    "DEFAULT_MAX_INPUT_DEPTH",
    "DEFAULT_QUEUE_SIZE",
    "INFER_VERB",
    "MAX_INPUT_DEPTH",
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
    "check_depth",
    "check_model_name",
    "decode_body",
    "decode_query",
    "decode_tensors",
    "decode_values",
    "depth_of",
    "endpoint_path",
    "endpoint_verb",
    "parse_input_schema",
    "too_deep_to_parse",
]
