"""The rules both processes share: model names, endpoint verbs and paths, defaults."""

from __future__ import annotations

import pytest

from jupyter_inferless.contract import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_QUEUE_SIZE,
    ModelNameError,
    check_model_name,
    endpoint_path,
    endpoint_verb,
)


@pytest.mark.parametrize("name", ["a", "echo", "Model-2", "gpt2.small", "x_y", "9lives", "a" * 64])
def test_valid_model_names_pass(name):
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-bad", ".hidden", "_x", "bad name", "bad/name", "bad!", "é", "a" * 65]
)
def test_invalid_model_names_get_the_one_message(name):
    with pytest.raises(ModelNameError) as caught:
        check_model_name(name)
    assert str(caught.value) == (
        f"invalid model name {name[:80]!r}: use 1-64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"
    )
    assert isinstance(caught.value, ValueError)


def test_a_long_invalid_name_is_cut_in_the_message():
    with pytest.raises(ModelNameError, match="invalid model name") as caught:
        check_model_name("!" * 500)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("streaming", "verb", "path"),
    [
        (True, "generate_stream", "inferless/v2/models/echo/generate_stream"),
        (False, "infer", "inferless/v2/models/echo/infer"),
    ],
)
def test_endpoint_of_a_streaming_and_a_non_streaming_model(streaming, verb, path):
    assert endpoint_verb(streaming) == verb
    assert endpoint_path("echo", streaming) == path


def test_serving_defaults():
    assert (DEFAULT_MAX_CONCURRENCY, DEFAULT_QUEUE_SIZE) == (1, 16)
