"""The model list a real server sends is what the OpenAPI document's ``ModelList`` says it
is: the lab panel's types are generated from that schema, so it must not lie."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.support.models import CHAT, TENSOR

DOCUMENT = "inferless/api/openapi.json"


@pytest.fixture
def served(serving):
    """A streaming model with examples, a non-streaming one with tensors, and a model with
    no INPUT_SCHEMA."""
    serving(CHAT.serve("chat"), "chat")
    serving(TENSOR.serve("tensor"), "tensor")
    return serving(replace(CHAT, schema=None).serve("free"), "free")


def validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator of the document's schema ``name`` (its references resolved in it)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return Draft202012Validator(schema)


async def test_the_model_list_is_valid_against_its_schema(served):
    _, doc = await served.call(DOCUMENT)
    status, listing = await served.call("inferless/api/models")
    assert status == 200
    errors = [error.message for error in validator(doc, "ModelList").iter_errors(listing)]
    assert errors == []
    models = {model["name"]: model for model in listing["models"]}
    assert set(models) == {"chat", "tensor", "free"}
    inputs = {spec["name"]: spec for spec in models["chat"]["schema"]["inputs"]}
    assert inputs["prompt"]["datatype"] == "STRING"
    assert models["tensor"]["schema"]["streaming"] is False
    assert models["free"]["schema"] == {"inputs": [], "streaming": True, "declared": False}


def test_the_schema_refuses_a_model_list_without_what_the_panel_reads():
    from jupyter_inferless.server.openapi.parts import components

    doc = {"components": components()}
    model = {"name": "m", "kernel_id": "k", "notebook": None, "streaming": True}
    found = validator(doc, "ModelList").iter_errors({"models": [model]})
    errors = {error.message for error in found}
    assert "'counters' is a required property" in errors
    assert "'schema' is a required property" in errors
