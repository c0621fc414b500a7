"""Each manager reads its own config section, and only there."""

from __future__ import annotations

from typing import Any

import pytest
import traitlets

from jupyter_inferless.server.service import Service
from tests.support.models import Model
from tests.support.server_config import server_config


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    config = server_config(
        heartbeat_interval=0.25,
        replay_events=7,
        credit_events=99,
        requests_per_turn=5,
        max_input_depth=5,
        retry_ms=1234,
        keep_finished=12.5,
    )
    # A manager's setting under the extension's section is not one of its settings.
    config["InferlessExtension"] = {"stall_timeout": 99.0}
    return config


def test_managers_read_their_own_sections_only(jp_serverapp: Any) -> None:
    service = jp_serverapp.web_app.settings["inferless_service"]
    assert (service.heartbeat_interval, service.retry_ms) == (0.25, 1234)
    assert (service.broker.replay_events, service.broker.keep_finished) == (7, 12.5)
    assert service.catalog.credit_events == 99
    assert service.turns.per_turn == 5
    assert service.max_input_depth == 5
    assert service.parent.name == "jupyter_inferless"  # configured as the extension's managers
    assert service.stall_timeout == Service.stall_timeout.default_value != 99.0


def test_an_unknown_setting_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no manager of the extension has a setting 'nope'"):
        server_config(nope=1)


DEEP = Model(
    "Deep",
    """
    class Deep:
        def infer(self, inputs):
            return {"count": len(inputs["x"])}
    """,
    {"x": {"datatype": "FP16", "required": True, "shape": [1, 1, 1, 1, 1]}},
    streaming=False,
)
"""A model whose input is a tensor of five dimensions: nested five levels deep."""


async def test_max_input_depth_bounds_how_deep_an_input_may_nest(kernel, api):
    await kernel.run(DEEP.serve("deep"))
    await api.wait_for_model("deep")
    path = "inferless/v2/models/deep/generate"
    five = [[[[[1.5]]]]]
    status, body = await api.call(path, {"x": five}, "POST")
    assert (status, body["count"]) == (200, 1)
    status, body = await api.call(path, {"x": [five]}, "POST")
    refused = "input 'x' is nested more than 5 levels deep (the server's max_input_depth is 5)"
    assert (status, body) == (400, {"error": refused, "kind": "input_error"})


@pytest.mark.parametrize("depth", [0, 257])
def test_max_input_depth_stays_far_below_the_recursion_limit(depth: int) -> None:
    with pytest.raises(traitlets.TraitError):
        Service(max_input_depth=depth)
