"""Stream Hugging Face transformers ``generate()`` through a ``stream_output_handler``.

``stream_generate`` runs ``model.generate()`` on the calling thread (the request's worker
thread), with a streamer that decodes each new token and sends the new text as one event,
and a stopping criterion that ends generation once the request is cancelled: a DELETE, or
the client left and the grace period ended. Needs ``pip install 'jupyter_inferless[hf]'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

try:
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList
    from transformers.generation.streamers import BaseStreamer
except ImportError as err:  # pragma: no cover - the extra is missing
    raise ImportError(
        "jupyter_inferless.hf needs transformers and torch; "
        "install them with pip install 'jupyter_inferless[hf]'"
    ) from err

from .contract.errors import StreamCancelled

__all__ = ["Generation", "TextEventStreamer", "stream_generate"]

CONTEXT_TOKENS = 5
"""Tokens kept as decoding context: of the prompt, so that the first piece keeps its leading
space, and when the decoding window starts again."""
WINDOW_TOKENS = 32
"""The decoding window starts again (from its last CONTEXT_TOKENS) once it is this long."""
MAX_HELD_TOKENS = 4
"""Tokens held back at most while their text ends in an incomplete character (a UTF-8
character has at most four bytes); then the text is sent as it decodes."""


@dataclass
class Generation:
    """What ``stream_generate`` produced: the new tokens' ids, and their text in pieces."""

    token_ids: list[int] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The whole new text."""
        return "".join(self.pieces)


class IncrementalDecoder:
    """Turns token ids into text pieces, with one decode of a short window per token.

    The window's text past what was given out is the next piece. It is given out unless it
    ends in an incomplete character (U+FFFD), for at most MAX_HELD_TOKENS tokens; ``flush``
    gives out whatever is held back. The window starts again from its last few tokens once
    it is WINDOW_TOKENS long, so that decoding stays cheap however long the text.
    """

    def __init__(self, tokenizer: Any, context: list[int], decode_kwargs: dict[str, Any]) -> None:
        self._tokenizer = tokenizer
        self._kwargs = decode_kwargs
        self._ids: list[int] = []  # the window
        self._given = 0  # how much of the window's text was given out (or is context)
        self._held = 0  # tokens added since a piece was last given out
        self._restart(list(context))

    def push(self, ids: list[int]) -> str:
        """Add new tokens; the text they complete ("" while it is incomplete)."""
        self._ids.extend(ids)
        self._held += len(ids)
        text = self._decode(self._ids)
        if len(text) <= self._given or (text.endswith("\ufffd") and self._held < MAX_HELD_TOKENS):
            return ""
        return self._give_out(text)

    def flush(self) -> str:
        """The text held back so far, complete or not."""
        text = self._decode(self._ids)
        return self._give_out(text) if len(text) > self._given else ""

    def _give_out(self, text: str) -> str:
        piece, self._given, self._held = text[self._given :], len(text), 0
        if len(self._ids) >= WINDOW_TOKENS:
            self._restart(self._ids)
        return piece

    def _restart(self, ids: list[int]) -> None:
        """Start the window again with the last tokens of ``ids``, all given out."""
        self._ids = ids[-CONTEXT_TOKENS:]
        self._given = len(self._decode(self._ids))

    def _decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, **self._kwargs))


class TextEventStreamer(BaseStreamer):
    """A ``generate()`` streamer that sends each new text piece as ``{output_key: piece}``.

    ``generate()`` hands it the prompt first (kept as decoding context, not sent), then
    each step's new token as a CPU tensor. Once the handler is cancelled it sends nothing
    more; ``send_streamed_output`` raising StreamCancelled ends ``generate()`` too.
    """

    def __init__(
        self,
        tokenizer: Any,
        handler: Any,
        output_key: str = "OUT",
        decode_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.handler = handler
        self.output_key = output_key
        self.decode_kwargs = dict(decode_kwargs or {"skip_special_tokens": True})
        self.generation = Generation()
        self._decoder: IncrementalDecoder | None = None

    @property
    def cancelled(self) -> bool:
        """Whether the handler's request was cancelled."""
        return bool(getattr(self.handler, "cancelled", False))

    def put(self, value: Any) -> None:
        """Take the prompt (first call) or a step's new token ids, of batch size 1."""
        if value.dim() > 1:
            if value.shape[0] != 1:
                raise ValueError("stream_generate supports a batch of one sequence only")
            value = value[0]
        ids: list[int] = value.tolist()  # generate() gives CPU copies: no device sync
        if self._decoder is None:
            self._decoder = IncrementalDecoder(self.tokenizer, ids, self.decode_kwargs)
            return
        self.generation.token_ids.extend(ids)
        self._send(self._decoder.push(ids))

    def end(self) -> None:
        """Send the text held back (the end of an incomplete character, if any)."""
        if self._decoder is not None:
            self._send(self._decoder.flush())

    def _send(self, piece: str) -> None:
        if not piece or self.cancelled:
            return
        self.generation.pieces.append(piece)
        self.handler.send_streamed_output({self.output_key: piece})


class StopWhenCancelled(StoppingCriteria):
    """Stops ``generate()`` at the first step after the handler's request is cancelled."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self._answers: dict[bool, Any] = {}  # by cancelled: one generate's batch and device

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        cancelled = bool(getattr(self.handler, "cancelled", False))
        answer = self._answers.get(cancelled)
        if answer is None or answer.shape[0] != input_ids.shape[0]:
            # made once on the device (no synchronisation), then reused at every step
            answer = torch.full((input_ids.shape[0],), cancelled, device=input_ids.device)
            self._answers[cancelled] = answer
        return answer


def stream_generate(
    model: Any,
    tokenizer: Any,
    handler: Any,
    prompt: Any,
    *,
    output_key: str = "OUT",
    decode_kwargs: Mapping[str, Any] | None = None,
    finalise: bool = True,
    **generate_kwargs: Any,
) -> Generation:
    """Run ``model.generate()`` and stream its new text through ``handler``.

    ``prompt`` is a string (tokenized with ``tokenizer``), a tensor of input ids, or the
    mapping a tokenizer returns (input_ids, attention_mask, ...); a batch of one. It is
    moved to ``model.device``. Each new text piece is sent as ``{output_key: piece}``;
    ``generate_kwargs`` go to ``generate()`` (max_new_tokens, do_sample, ...). The stream
    is finalised unless ``finalise`` is False. If the request is cancelled, generation
    stops within one token and StreamCancelled is raised, so the stream ends as cancelled.
    Returns the new tokens' ids and text.
    """
    if "streamer" in generate_kwargs:
        raise TypeError("stream_generate brings its own streamer")
    streamer = TextEventStreamer(tokenizer, handler, output_key, decode_kwargs)
    criteria = StoppingCriteriaList(generate_kwargs.pop("stopping_criteria", None) or [])
    criteria.append(StopWhenCancelled(handler))
    model.generate(
        **model_inputs(model, tokenizer, prompt),
        streamer=streamer,
        stopping_criteria=criteria,
        **generate_kwargs,
    )
    if streamer.cancelled:
        raise StreamCancelled("the request was cancelled")
    if finalise:
        handler.finalise_streamed_output()
    return streamer.generation


def model_inputs(model: Any, tokenizer: Any, prompt: Any) -> dict[str, Any]:
    """``generate()``'s inputs for a prompt string, ids tensor or tokenizer output."""
    if isinstance(prompt, str):
        prompt = tokenizer(prompt, return_tensors="pt")
    if isinstance(prompt, Mapping):
        inputs = dict(prompt)
    elif isinstance(prompt, torch.Tensor):
        inputs = {"input_ids": prompt if prompt.dim() > 1 else prompt.unsqueeze(0)}
    else:
        raise TypeError(f"prompt must be a str, a tensor or a mapping, not {type(prompt)!r}")
    device = getattr(model, "device", None)
    return {
        key: value.to(device) if isinstance(value, torch.Tensor) and device else value
        for key, value in inputs.items()
    }
