"""Print the server's OpenAPI document, as it is while a representative set of models is served.

Usage: python scripts/openapi_document.py [OUTPUT]   (stdout without OUTPUT)

The server's own builder makes the document (a pure function of the served models: no
server runs). The lab panel's TypeScript types are generated from it (in labextension/,
``jlpm generate:types`` writes src/generated/openapi.json and openapi.ts), and the panel's
tests check that the committed snapshot is still what this prints. Keys are sorted and the
models fixed, so the output changes only when the server's document does.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from jupyter_inferless.contract import ModelSchema, parse_input_schema
from jupyter_inferless.server.openapi.document import document  # the one import of the builder

BASE_URL = "/"
VERSION = "VERSION"  # in place of the package's version


@dataclass
class Served:
    """A served model, as the builder sees one (the catalog's replicas, summed)."""

    name: str
    schema: ModelSchema
    max_concurrency: int = 1
    queue_size: int = 0


def _spec(datatype: str, shape: list[int], required: bool, example: list[object]) -> dict:
    return {"datatype": datatype, "shape": shape, "required": required, "example": example}


# A streaming model with every control the panel's form makes, a model answering v2 tensors
# (lists, any length), and a model without INPUT_SCHEMA.
MODELS = (
    Served(
        "chat",
        parse_input_schema(
            {
                "prompt": _spec("STRING", [1], True, ["There is a fine house in the forest"]),
                "max_tokens": _spec("INT32", [1], False, [16]),
                "shout": _spec("BOOL", [1], False, [False]),
            },
            streaming=True,
        ),
        max_concurrency=2,
        queue_size=4,
    ),
    Served(
        "tensor",
        parse_input_schema(
            {
                "x": _spec("FP32", [-1], True, [0.5, 1.5]),
                "grid": _spec("UINT8", [2, 2], False, [1, 2, 3, 4]),
            },
            streaming=False,
        ),
    ),
    Served("free", ModelSchema(streaming=False, declared=False)),
)


def openapi_json() -> str:
    """The document as stable JSON text: keys sorted, two-space indents, a final newline.

    ``info.version`` (the package's version, as installed) is written as ``VERSION``: a
    release changes no shape, and so needs no new snapshot.
    """
    built = document(BASE_URL, MODELS)
    built["info"]["version"] = VERSION
    return json.dumps(built, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    text = openapi_json()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
