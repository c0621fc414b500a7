"""stream_generate with a real transformers model and the kernel's real stream handler."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

pytest.importorskip("transformers", reason="transformers is missing: pip install '.[hf]'")

import torch
from transformers import StoppingCriteria

from jupyter_inferless.contract import StreamCancelled
from jupyter_inferless.hf import MAX_HELD_TOKENS, IncrementalDecoder, stream_generate
from jupyter_inferless.kernel.model import StreamOutputHandler
from jupyter_inferless.protocol import RunError
from tests.support.tiny_causal_lm import build, bytes_alone

PROMPT = "There is a fine house"
MAX_NEW_TOKENS = 2000


class TokenCounter(StoppingCriteria):
    """A stopping criterion that never stops: it counts the tokens generate() produced."""

    def __init__(self) -> None:
        self.tokens = 0

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        self.tokens += 1
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class ListSink:
    """The handler's sink: keeps the events' text; at the ``cancel_at``-th event it cancels
    the request, as the kernel's outbox does on a DELETE, noting how many tokens were out."""

    def __init__(self, counter: TokenCounter, cancel_at: int | None = None) -> None:
        self.counter = counter
        self.cancel_at = cancel_at
        self.cancelled = threading.Event()
        self.texts: list[str] = []
        self.ended: list[RunError | None] = []
        self.tokens_at_cancel: int | None = None

    def event(self, line: str) -> None:
        self.texts.append(json.loads(line)["OUT"])
        if len(self.texts) == self.cancel_at:
            self.tokens_at_cancel = self.counter.tokens
            self.cancelled.set()

    def end(self, error: RunError | None) -> None:
        self.ended.append(error)


class RaisingHandler:
    """A handler without ``cancelled`` whose send raises StreamCancelled after ``events``."""

    def __init__(self, counter: TokenCounter, events: int) -> None:
        self.counter = counter
        self.events = events
        self.texts: list[str] = []
        self.tokens_at_raise: int | None = None

    def send_streamed_output(self, output: dict[str, Any]) -> None:
        if len(self.texts) == self.events:
            self.tokens_at_raise = self.counter.tokens
            raise StreamCancelled("the request was cancelled")
        self.texts.append(output["OUT"])

    def finalise_streamed_output(self) -> None:
        raise AssertionError("a cancelled stream is not finalised")


@pytest.fixture(scope="module")
def lm() -> tuple[Any, Any]:
    """The tiny GPT-2 and its tokenizer."""
    return build()


def plain_generate(lm: tuple[Any, Any], max_new_tokens: int) -> list[int]:
    """The new tokens' ids of greedy generate(), without streaming."""
    model, tokenizer = lm
    inputs = tokenizer(PROMPT, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return [int(i) for i in output[0, inputs["input_ids"].shape[1] :]]


def streamed(lm: tuple[Any, Any], cancel_at: int | None = None, **kwargs: Any) -> Any:
    """stream_generate through a real StreamOutputHandler: (result or None, sink, counter)."""
    counter = TokenCounter()
    sink = ListSink(counter, cancel_at)
    handler = StreamOutputHandler(sink, sink.cancelled)
    kwargs = {"do_sample": False, "stopping_criteria": [counter], **kwargs}
    try:
        result = stream_generate(*lm, handler, PROMPT, **kwargs)
    except StreamCancelled:
        result = None
    return result, sink, counter


def test_the_streamed_text_is_the_text_generate_returns(lm):
    new_ids = plain_generate(lm, 60)
    result, sink, counter = streamed(lm, max_new_tokens=60)
    assert result.token_ids == new_ids and counter.tokens == 60
    decoded = lm[1].decode(new_ids, skip_special_tokens=True)
    assert "".join(sink.texts) == result.text == decoded
    assert all(sink.texts) and len(sink.texts) == 60  # one event per token
    assert sink.ended == [None]  # finalised


def test_a_cancel_stops_generate_within_one_token(lm):
    result, sink, counter = streamed(lm, cancel_at=5, max_new_tokens=MAX_NEW_TOKENS)
    assert result is None  # stream_generate raised StreamCancelled
    assert len(sink.texts) == 5  # nothing was sent after the cancel
    assert sink.ended == []  # not finalised: the worker ends it with the cancel's reason
    after = counter.tokens - sink.tokens_at_cancel
    print(f"tokens generated after the cancel: {after} (of {counter.tokens})")
    assert after <= 1, f"generate() ran {after} tokens past the cancel"


def test_stream_cancelled_from_send_stops_generate_and_the_model_still_works(lm):
    counter = TokenCounter()
    handler = RaisingHandler(counter, events=3)
    with pytest.raises(StreamCancelled):
        stream_generate(
            *lm, handler, PROMPT, max_new_tokens=MAX_NEW_TOKENS, stopping_criteria=[counter]
        )
    assert len(handler.texts) == 3
    assert counter.tokens == handler.tokens_at_raise < 10  # stopped at the raising token
    result, _, _ = streamed(lm, max_new_tokens=60)
    assert result.token_ids == plain_generate(lm, 60)


def test_prompts_as_ids_or_tokenizer_output_stream_the_same_text(lm):
    model, tokenizer = lm
    encoded = tokenizer(PROMPT, return_tensors="pt")
    texts = []
    for prompt in (PROMPT, encoded, encoded["input_ids"], encoded["input_ids"][0]):
        counter = TokenCounter()
        sink = ListSink(counter)
        handler = StreamOutputHandler(sink, sink.cancelled)
        texts.append(stream_generate(model, tokenizer, handler, prompt, max_new_tokens=12).text)
    assert len(set(texts)) == 1 and texts[0]


def test_a_batch_or_a_second_streamer_is_refused(lm):
    model, tokenizer = lm
    sink = ListSink(TokenCounter())
    handler = StreamOutputHandler(sink, sink.cancelled)
    batch = tokenizer([PROMPT, PROMPT], return_tensors="pt")
    with pytest.raises(ValueError, match="batch of one"):
        stream_generate(model, tokenizer, handler, batch, max_new_tokens=2)
    with pytest.raises(TypeError, match="its own streamer"):
        stream_generate(model, tokenizer, handler, PROMPT, streamer=object())


@pytest.mark.parametrize("text", ["naïve café, 日本語 and 🙂 emoji", " leading space\nnew line"])
def test_the_decoder_holds_back_incomplete_characters(lm, text):
    tokenizer = lm[1]
    ids = tokenizer(text)["input_ids"]
    context, rest = ids[:2], ids[2:]
    decoder = IncrementalDecoder(tokenizer, context, {"skip_special_tokens": True})
    pieces = [decoder.push([i]) for i in rest]
    pieces.append(decoder.flush())
    assert "".join(pieces) == tokenizer.decode(ids)[len(tokenizer.decode(context)) :]
    assert not any("\ufffd" in piece for piece in pieces)
    assert sum(1 for piece in pieces if piece) > len(text) // 4  # it streams, piece by piece


def test_bytes_that_never_make_a_character_are_sent_after_a_few_tokens(lm):
    tokenizer = lm[1]
    stray = bytes_alone(tokenizer)[0]  # a UTF-8 byte that is not a character by itself
    decoder = IncrementalDecoder(tokenizer, [], {"skip_special_tokens": True})
    pieces = [decoder.push([stray]) for _ in range(12)]
    assert sum(1 for piece in pieces if piece) == 12 // MAX_HELD_TOKENS  # not held to the end
    assert "".join(pieces) + decoder.flush() == tokenizer.decode([stray] * 12)
