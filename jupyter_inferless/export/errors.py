"""The one error of export: what cannot be carried into a model directory, and why."""

from __future__ import annotations

from ..contract.errors import InferlessError


class ExportError(InferlessError, ValueError):
    """The model cannot be exported; the message names the offending thing and the rule."""


def refusal(subject: str, problems: list[str]) -> str:
    """One message for every problem found (duplicates once)."""
    unique = list(dict.fromkeys(problems))
    if len(unique) == 1:
        return f"cannot export {subject}: {unique[0]}"
    return f"cannot export {subject}:\n" + "\n".join(f"  - {problem}" for problem in unique)
