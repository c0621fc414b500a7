"""INPUT_SCHEMA: parse it, check it against Inferless's rules, describe it as v2 metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .datatypes import DATATYPES, STREAMING_DATATYPES, value_phrase, value_schema
from .errors import SchemaError


@dataclass(frozen=True)
class InputSpec:
    """One declared input of a model."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    required: bool = True
    example: list[Any] | None = None

    @property
    def is_scalar(self) -> bool:
        """Shape [1]: the model receives a single value, not a list."""
        return self.shape == (1,)

    def to_json(self) -> dict[str, Any]:
        """The input as the HTTP API shows it."""
        described: dict[str, Any] = {
            "name": self.name,
            "datatype": self.datatype,
            "shape": list(self.shape),
            "required": self.required,
        }
        if self.example is not None:
            described["example"] = self.example
        return described


@dataclass(frozen=True)
class ModelSchema:
    """The parsed INPUT_SCHEMA of a model, with its streaming flag."""

    inputs: tuple[InputSpec, ...] = ()
    streaming: bool = False
    declared: bool = True
    by_name: dict[str, InputSpec] = field(default_factory=dict, compare=False, repr=False)
    validators: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Each request form's validator, built on first use (``inputs.validate``)."""

    def __post_init__(self) -> None:
        self.by_name.update({spec.name: spec for spec in self.inputs})

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (for a decode process) without the validators: they are built anew."""
        return {**self.__dict__, "validators": {}}

    def to_json(self) -> dict[str, Any]:
        """JSON form, sent from the kernel to the server."""
        return {
            "inputs": [spec.to_json() for spec in self.inputs],
            "streaming": self.streaming,
            "declared": self.declared,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelSchema:
        """Inverse of :meth:`to_json`."""
        raw = {spec["name"]: spec for spec in data.get("inputs", [])}
        streaming = bool(data.get("streaming"))
        if not data.get("declared", True):
            return ModelSchema(streaming=streaming, declared=False)
        return parse_input_schema(raw, streaming=streaming)


def parse_input_schema(raw: Any, *, streaming: bool) -> ModelSchema:
    """Check an INPUT_SCHEMA dict and return it parsed.

    Raises SchemaError naming the input and the rule it breaks.
    """
    if raw is None:
        return ModelSchema(streaming=streaming, declared=False)
    if not isinstance(raw, Mapping):
        raise SchemaError(
            f"INPUT_SCHEMA must be a dict of input name to spec, not {type(raw).__name__}"
        )
    specs = tuple(_parse_spec(name, spec, streaming) for name, spec in raw.items())
    return ModelSchema(inputs=specs, streaming=streaming)


def _parse_spec(name: Any, spec: Any, streaming: bool) -> InputSpec:
    if not isinstance(name, str) or not name:
        raise SchemaError(f"INPUT_SCHEMA keys must be non-empty strings, got {name!r}")
    where = f"INPUT_SCHEMA[{name!r}]"
    if not isinstance(spec, Mapping):
        raise SchemaError(f"{where} must be a dict with datatype, required and shape")
    unknown = set(spec) - {"datatype", "required", "shape", "example", "name"}
    if unknown:
        raise SchemaError(f"{where} has unknown keys {sorted(unknown)}")
    datatype = spec.get("datatype")
    if datatype not in DATATYPES:
        raise SchemaError(f"{where}: datatype {datatype!r} is not one of {sorted(DATATYPES)}")
    shape = _parse_shape(where, spec.get("shape", [1]))
    required = spec.get("required", True)
    if not isinstance(required, bool):
        raise SchemaError(f"{where}: required must be true or false, not {required!r}")
    if streaming and (datatype not in STREAMING_DATATYPES or shape != (1,)):
        raise SchemaError(
            f"{where}: a streaming model's inputs must be INT*, STRING or BOOL with shape [1] "
            f"(got {datatype} {list(shape)}); send objects as json.dumps strings"
        )
    example = spec.get("example")
    if example is not None:
        example = _check_example(where, example, datatype)
    return InputSpec(name, datatype, shape, required, example)


def _parse_shape(where: str, shape: Any) -> tuple[int, ...]:
    if (
        not isinstance(shape, (list, tuple))
        or not shape
        or not all(
            isinstance(d, int) and not isinstance(d, bool) and (d > 0 or d == -1) for d in shape
        )
    ):
        raise SchemaError(f"{where}: shape must be a list of positive sizes or -1, not {shape!r}")
    return tuple(shape)


def _check_example(where: str, example: Any, datatype: str) -> list[Any]:
    """Each value of the example fits the datatype's JSON Schema (``value_schema``)."""
    from .validator import plain_keyword_broken

    values = example if isinstance(example, list) else [example]
    rule = value_schema(datatype)
    for value in values:
        broken = plain_keyword_broken(rule, value)
        if broken is not None:
            problem = value_phrase(broken, value, datatype)
            raise SchemaError(f"{where}: example {value!r} does not fit {datatype}: {problem}")
    return values
