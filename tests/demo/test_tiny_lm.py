"""Tests for the bundled tiny character-level demo model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from jupyter_inferless.demo import WEIGHTS_PATH, TinyLM, load_tiny_lm

PROMPT = "There is a fine house in the forest"
CORPUS_PATH = Path(WEIGHTS_PATH).with_name("corpus.txt")


@pytest.fixture(scope="module")
def model() -> TinyLM:
    return load_tiny_lm("cpu")


def sample(
    model: TinyLM,
    prompt: str = PROMPT,
    max_new_tokens: int = 64,
    temperature: float = 0.8,
    seed: int | None = None,
) -> str:
    return "".join(model.generate(prompt, max_new_tokens, temperature, seed))


def test_checkpoint_loads_on_cpu(model: TinyLM) -> None:
    assert WEIGHTS_PATH.is_file()
    assert WEIGHTS_PATH.stat().st_size < 2 * 1024 * 1024
    assert model.device == torch.device("cpu")
    assert not model.training
    assert " " in model.vocab and "e" in model.vocab


def test_checkpoint_is_self_contained() -> None:
    ckpt = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    assert set(ckpt) >= {"vocab", "hparams", "state_dict"}
    rebuilt = TinyLM.from_checkpoint(ckpt)
    assert rebuilt.vocab == ckpt["vocab"]


def test_load_from_explicit_path(tmp_path: Path, model: TinyLM) -> None:
    path = tmp_path / "copy.pt"
    torch.save(model.checkpoint(), path)
    other = load_tiny_lm(device=torch.device("cpu"), path=path)
    assert sample(other, max_new_tokens=20, seed=3) == sample(model, max_new_tokens=20, seed=3)


def test_generate_yields_single_characters(model: TinyLM) -> None:
    gen = model.generate(PROMPT, max_new_tokens=37, seed=1)
    assert iter(gen) is gen  # a lazy generator, not a list
    tokens = list(gen)
    assert len(tokens) == 37
    assert all(isinstance(t, str) and len(t) == 1 for t in tokens)
    assert list(model.generate(PROMPT, max_new_tokens=0)) == []


def test_same_seed_same_text(model: TinyLM) -> None:
    first = sample(model, max_new_tokens=80, seed=42)
    assert first == sample(model, max_new_tokens=80, seed=42)
    others = {sample(model, max_new_tokens=80, seed=s) for s in range(5)}
    assert len(others) > 1


def test_seed_does_not_touch_global_rng(model: TinyLM) -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    sample(model, max_new_tokens=10, seed=7)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("prompt", ["", "Ünïcödé ✓ 日本語 {}<>", "\t\x00", "Zebra @ 42 #"])
def test_unknown_prompt_characters(model: TinyLM, prompt: str) -> None:
    out = sample(model, prompt, max_new_tokens=16, seed=0)
    assert len(out) == 16
    assert set(out) <= set(model.vocab)


def test_temperature_zero_is_greedy(model: TinyLM) -> None:
    greedy = sample(model, max_new_tokens=60, temperature=0.0)
    assert greedy == sample(model, max_new_tokens=60, temperature=0.0, seed=123)
    assert greedy == sample(model, max_new_tokens=60, temperature=-1.0)
    # Greedy means each step picks the arg-max continuation of the text so far.
    text = PROMPT
    for ch in greedy[:10]:
        with torch.inference_mode():
            logits, _ = model(torch.tensor([model.encode(text)]))
        assert model.vocab[int(logits[0, -1].argmax())] == ch
        text += ch


def test_generate_does_not_leak_inference_mode(model: TinyLM) -> None:
    gen = model.generate(PROMPT, max_new_tokens=3, seed=0)
    next(gen)
    assert not torch.is_inference_mode_enabled()
    assert torch.is_grad_enabled()


def test_samples_look_like_english(model: TinyLM) -> None:
    corpus_words = set(re.findall(r"[a-z']+", CORPUS_PATH.read_text(encoding="utf-8").lower()))
    text = sample(model, max_new_tokens=200, seed=0)
    words = re.findall(r"[a-z']+", text.lower())
    assert len(words) >= 20
    known = [w for w in words if w in corpus_words]
    assert len(known) / len(words) > 0.6, text
    assert {"the", "and"} & set(words), text
