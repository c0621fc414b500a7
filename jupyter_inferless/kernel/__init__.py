"""Runs inside ipykernel: the served models, the links to servers, the model's stream.

``%load_ext jupyter_inferless`` (``jupyter_inferless/magics.py``) starts the runtime.
"""

from __future__ import annotations

from .runtime import Runtime
from .served import Served

__all__ = ["Runtime", "Served"]
