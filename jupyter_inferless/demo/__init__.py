"""Bundled demo: a tiny character-level text generation model (torch + stdlib only)."""

from .tiny_lm import WEIGHTS_PATH, TinyLM, load_tiny_lm

__all__ = ["WEIGHTS_PATH", "TinyLM", "load_tiny_lm"]
