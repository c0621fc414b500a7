"""The server configuration every test runs with, and a way to vary the extension's part."""

from __future__ import annotations

from typing import Any


def server_config(**inferless: Any) -> dict[str, Any]:
    """The extension on, authentication required, plus ``InferlessExtension`` settings."""
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_inferless": True, "jupyter_server_terminals": False},
            "allow_unauthenticated_access": False,
        },
        "InferlessExtension": inferless,
    }
