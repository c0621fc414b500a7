"""Each manager reads its own config section; the old c.InferlessExtension names still work."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.server_config import server_config


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    config = server_config(
        heartbeat_interval=0.25, replay_events=7, credit_events=99, requests_per_turn=5
    )
    config["InferlessExtension"] = {"retry_ms": 1234, "keep_finished": 12.5}
    return config


def test_managers_read_their_sections_and_the_old_names(jp_serverapp: Any) -> None:
    service = jp_serverapp.web_app.settings["inferless_service"]
    assert (service.heartbeat_interval, service.retry_ms) == (0.25, 1234)
    assert (service.broker.replay_events, service.broker.keep_finished) == (7, 12.5)
    assert service.catalog.credit_events == 99
    assert service.turns.per_turn == 5
    assert service.parent.name == "jupyter_inferless"  # configured as the extension's managers


def test_an_unknown_setting_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no manager of the extension has a setting 'nope'"):
        server_config(nope=1)
