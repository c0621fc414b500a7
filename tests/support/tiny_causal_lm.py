"""A tiny Hugging Face causal language model built offline, for the tests and the benchmark.

A byte-level BPE tokenizer trained with ``tokenizers`` on a few lines of text, wrapped in
``PreTrainedTokenizerFast``, and a GPT-2 with random weights (``torch.manual_seed``).
Nothing is downloaded: the Hub is switched off before transformers is imported. The
kernel side of the tests runs this file's source to build the same model.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

CORPUS = """\
There is a fine house in the forest, and the river runs past its door.
The miller's daughter walked to the market every morning with a basket of bread.
In the evening the old man told stories of ships, storms and distant harbours.
The children counted the stars, one by one, until they fell asleep by the fire.
A letter arrived in spring: the travellers would return before the harvest.
""".splitlines()
"""What the tokenizer is trained on."""

EOS = "<|endoftext|>"


def train_tokenizer(lines: list[str] = CORPUS, vocab_size: int = 320) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (every byte is a token, so any text encodes)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(lines, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=EOS)


def tiny_model(
    tokenizer: PreTrainedTokenizerFast,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 2,
    positions: int = 4096,
    seed: int = 0,
) -> GPT2LMHeadModel:
    """A GPT-2 with random weights; it never ends by itself (no end-of-text token), so it
    generates exactly ``max_new_tokens``, and writes only whole characters."""
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=positions,
        n_embd=hidden,
        n_layer=layers,
        n_head=heads,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(config).eval()
    # Like a trained model, it writes text: never a byte that is not a character by itself.
    model.generation_config.suppress_tokens = bytes_alone(tokenizer)
    return model


def bytes_alone(tokenizer: PreTrainedTokenizerFast) -> list[int]:
    """The tokens that are not text by themselves (a part of a UTF-8 character)."""
    return [i for i in range(len(tokenizer)) if "\ufffd" in tokenizer.decode([i])]


def build(
    hidden: int = 64, layers: int = 2, seed: int = 0, device: str = "cpu"
) -> tuple[GPT2LMHeadModel, PreTrainedTokenizerFast]:
    """The model, on ``device``, and its tokenizer."""
    tokenizer = train_tokenizer()
    return tiny_model(tokenizer, hidden=hidden, layers=layers, seed=seed).to(device), tokenizer
