"""The server configuration every test runs with, and a way to vary the extension's part."""

from __future__ import annotations

from typing import Any

from jupyter_inferless.server.kernels.catalog import Catalog
from jupyter_inferless.server.service import Service
from jupyter_inferless.server.streams.broker import Broker

MANAGERS = (Broker, Catalog, Service)


def server_config(**settings: Any) -> dict[str, Any]:
    """The extension on, authentication required, plus settings of the extension's managers,
    each put in its own section (``c.Service``, ``c.Broker``, ``c.Catalog``)."""
    config: dict[str, Any] = {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_inferless": True, "jupyter_server_terminals": False},
            "allow_unauthenticated_access": False,
        },
    }
    for name, value in settings.items():
        owners = [m.__name__ for m in MANAGERS if name in m.class_trait_names(config=True)]
        if not owners:
            raise KeyError(f"no manager of the extension has a setting {name!r}")
        config.setdefault(owners[0], {})[name] = value
    return config
