"""The Inferless model contract: schema rules, inputs, outputs, the stream handler.

Nothing here imports Jupyter, tornado or torch, so both the kernel and the server
use it.
"""

from .errors import (
    InferlessError,
    InputError,
    ModelContractError,
    OutputError,
    SchemaError,
    StreamCancelled,
    StreamFinishedError,
)
from .handler import EventSink, StreamOutputHandler
from .inputs import decode_body, decode_query, decode_tensors, decode_values
from .model import ModelAdapter
from .model_dir import ModelDirectory, RuntimeConfigWarning, load_model_directory
from .schema import InputSpec, ModelSchema, parse_input_schema

__all__ = [
    "EventSink",
    "InferlessError",
    "InputError",
    "InputSpec",
    "ModelAdapter",
    "ModelContractError",
    "ModelDirectory",
    "ModelSchema",
    "OutputError",
    "RuntimeConfigWarning",
    "SchemaError",
    "StreamCancelled",
    "StreamFinishedError",
    "StreamOutputHandler",
    "decode_body",
    "decode_query",
    "decode_tensors",
    "decode_values",
    "load_model_directory",
    "parse_input_schema",
]
