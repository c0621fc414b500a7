"""Train the demo model on ``corpus.txt``.

Usage: ``python -m jupyter_inferless.demo.train [--steps N] [--out PATH]``
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.nn import functional as F

from .tiny_lm import WEIGHTS_PATH, TinyLM, default_device

CORPUS_PATH: Path = Path(__file__).with_name("corpus.txt")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=800, help="optimizer steps (default: 800)")
    p.add_argument("--out", type=Path, default=WEIGHTS_PATH, help="checkpoint to write")
    p.add_argument("--corpus", type=Path, default=CORPUS_PATH, help="training text")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--embed-dim", type=int, default=32)
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--val-fraction", type=float, default=0.1, help="tail of corpus held out")
    p.add_argument("--log-every", type=int, default=100)
    return p.parse_args(argv)


def seed_everything(seed: int) -> None:
    """Seed the stdlib and torch RNGs and prefer deterministic kernels."""
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def random_batch(
    data: torch.Tensor, batch_size: int, seq_len: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``batch_size`` windows of ``seq_len`` inputs and next-character targets."""
    starts = torch.randint(0, data.numel() - seq_len - 1, (batch_size,), generator=gen)
    rows = torch.stack([data[s : s + seq_len + 1] for s in starts.tolist()])
    return rows[:, :-1], rows[:, 1:]


@torch.no_grad()
def evaluate(model: TinyLM, data: torch.Tensor, seq_len: int, device: torch.device) -> float:
    """Mean next-character cross-entropy (nats) over ``data`` in consecutive chunks."""
    model.eval()
    x = data[:-1].unsqueeze(0).to(device)
    y = data[1:].unsqueeze(0).to(device)
    total, count, hidden = 0.0, 0, None
    for i in range(0, x.size(1), seq_len):
        logits, hidden = model(x[:, i : i + seq_len], hidden)
        target = y[:, i : i + seq_len]
        total += F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="sum").item()
        count += target.numel()
    model.train()
    return total / max(count, 1)


def train(args: argparse.Namespace) -> TinyLM:
    """Run training and write the checkpoint to ``args.out``."""
    seed_everything(args.seed)
    torch.set_num_threads(2)
    device = default_device()
    text = args.corpus.read_text(encoding="utf-8")
    vocab = sorted(set(text))
    model = TinyLM(
        vocab, args.embed_dim, args.hidden_size, args.num_layers, dropout=args.dropout
    ).to(device)
    data = torch.tensor(model.encode(text), dtype=torch.long)
    n_val = int(len(data) * args.val_fraction)
    train_data, val_data = (data[:-n_val], data[-n_val:]) if n_val else (data, data[:0])
    n_params = sum(p.numel() for p in model.parameters())
    print(f"corpus: {len(text)} chars, vocab {len(vocab)}, params {n_params}, device {device}")

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps: int = args.steps
    warmup = max(1, steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator().manual_seed(args.seed)
    start, running = time.monotonic(), 0.0
    best_val, best_state = math.inf, copy.deepcopy(model.state_dict())
    model.train()
    for step in range(1, args.steps + 1):
        x, y = random_batch(train_data, args.batch_size, args.seq_len, gen)
        logits, _ = model(x.to(device))
        loss = F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running += loss.item()
        if step % args.log_every == 0 or step == args.steps:
            n = args.log_every if step % args.log_every == 0 else step % args.log_every
            line = f"step {step:5d}  loss {running / n:.3f}"
            running = 0.0
            if val_data.numel() > 1:
                val = evaluate(model, val_data, args.seq_len, device)
                line += f"  held-out {val:.3f}"
                if val < best_val:
                    best_val, best_state = val, copy.deepcopy(model.state_dict())
            print(f"{line}  {time.monotonic() - start:6.1f}s", flush=True)

    if val_data.numel() > 1:
        model.load_state_dict(best_state)  # keep the step that generalised best
    train_loss = evaluate(model, train_data, args.seq_len, device)
    msg = f"final train loss {train_loss:.3f}"
    if val_data.numel() > 1:
        msg += f", held-out loss {best_val:.3f}"
    print(f"{msg} (nats/char), {time.monotonic() - start:.1f}s")

    model.eval()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.checkpoint(), args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    sample = "".join(model.generate("There is a fine house in the forest", 200, seed=0))
    print("sample:", sample)
    return model


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    train(parse_args(argv))


if __name__ == "__main__":
    main()
