"""What serving a model is told (:class:`ServeOptions`) and what it returns (:class:`Served`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..contract import DEFAULT_MAX_CONCURRENCY, DEFAULT_QUEUE_SIZE, endpoint_path

__all__ = ["ServeOptions", "Served"]


@dataclass(frozen=True)
class Served:
    """What serve() returns: the model's name and where to reach it."""

    name: str
    streaming: bool
    device: str
    server_url: str | None

    @property
    def path(self) -> str:
        """The stream (or infer) path under the server's base URL."""
        return endpoint_path(self.name, self.streaming)

    def __repr__(self) -> str:
        where = (self.server_url or "<jupyter server>/").rstrip("/") + "/" + self.path
        return f"<served {self.name!r} on {self.device}: POST {where}>"


@dataclass(frozen=True)
class ServeOptions:
    """How to serve a model, as :func:`jupyter_inferless.serve` and ``%inferless serve``
    are told (see there); checked when made."""

    name: str | None = None
    input_schema: dict[str, Any] | None = None
    streaming: bool | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    queue_size: int = DEFAULT_QUEUE_SIZE

    def __post_init__(self) -> None:
        if not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
            raise ValueError(
                f"max_concurrency must be a positive integer, not {self.max_concurrency!r}"
            )
        if not isinstance(self.queue_size, int) or self.queue_size < 0:
            raise ValueError(f"queue_size must be a non-negative integer, not {self.queue_size!r}")
