"""A tiny character-level GRU language model with a streaming generator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

WEIGHTS_PATH: Path = Path(__file__).with_name("tiny_lm.pt")
"""The trained checkpoint shipped with the package."""

CHECKPOINT_FORMAT: int = 1
FALLBACK_CHAR: str = " "
START_CHAR: str = "\n"


def default_device() -> torch.device:
    """Return ``cuda`` when a GPU is available, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TinyLM(nn.Module):
    """Embedding, a small GRU stack and a linear head over a character vocabulary."""

    def __init__(
        self,
        vocab: list[str],
        embed_dim: int = 32,
        hidden_size: int = 128,
        num_layers: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(vocab) != len(set(vocab)) or any(len(ch) != 1 for ch in vocab):
            raise ValueError("vocab must be a list of distinct single characters")
        self.vocab: list[str] = list(vocab)
        self.stoi: dict[str, int] = {ch: i for i, ch in enumerate(self.vocab)}
        self.hparams: dict[str, int] = {
            "embed_dim": embed_dim,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
        }
        self.embed = nn.Embedding(len(vocab), embed_dim)
        self.rnn = nn.GRU(
            embed_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, len(vocab))
        self._fallback = self.stoi.get(FALLBACK_CHAR, 0)

    @property
    def device(self) -> torch.device:
        """The device holding the model's parameters."""
        return self.head.weight.device

    def encode(self, text: str) -> list[int]:
        """Map characters to ids; unknown characters become the fallback id."""
        return [self.stoi.get(ch, self._fallback) for ch in text]

    def decode(self, ids: list[int]) -> str:
        """Map ids back to a string."""
        return "".join(self.vocab[i] for i in ids)

    def forward(
        self, ids: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return logits of shape ``(batch, time, vocab)`` and the new hidden state."""
        out, hidden = self.rnn(self.drop(self.embed(ids)), hidden)
        return self.head(self.drop(out)), hidden

    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to rebuild the model, loadable with ``weights_only=True``."""
        return {
            "format": CHECKPOINT_FORMAT,
            "vocab": list(self.vocab),
            "hparams": dict(self.hparams),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
        }

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> TinyLM:
        """Rebuild a model from :meth:`checkpoint` output."""
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"unsupported checkpoint format: {ckpt.get('format')!r}")
        model = cls(list(ckpt["vocab"]), **ckpt["hparams"])
        model.load_state_dict(ckpt["state_dict"])
        return model

    def generate(
        self,
        prompt: str,
        max_new_tokens: int = 64,
        temperature: float = 0.8,
        seed: int | None = None,
    ) -> Iterator[str]:
        """Yield up to ``max_new_tokens`` characters, one at a time, continuing ``prompt``.

        ``temperature <= 0`` picks the most likely character (greedy). A given ``seed``
        makes sampling reproducible on the same device.
        """
        device = self.device
        generator = torch.Generator(device=device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        ids = self.encode(prompt) or self.encode(START_CHAR)
        hidden: torch.Tensor | None = None
        for _ in range(max_new_tokens):
            # Grad mode is thread-local, so the context must not stay open across `yield`.
            with torch.inference_mode():
                x = torch.tensor([ids], dtype=torch.long, device=device)
                logits, hidden = self(x, hidden)
                last = logits[0, -1]
                if temperature <= 0:
                    nxt = int(torch.argmax(last).item())
                else:
                    probs = torch.softmax(last.float() / temperature, dim=-1)
                    nxt = int(torch.multinomial(probs, 1, generator=generator).item())
            yield self.vocab[nxt]
            ids = [nxt]


def load_tiny_lm(device: torch.device | str | None = None, path: Path | None = None) -> TinyLM:
    """Load the shipped (or given) checkpoint onto ``device`` in eval mode."""
    ckpt = torch.load(path or WEIGHTS_PATH, map_location="cpu", weights_only=True)
    model = TinyLM.from_checkpoint(ckpt)
    return model.to(torch.device(device) if device is not None else default_device()).eval()
