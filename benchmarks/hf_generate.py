"""Hugging Face generate() benchmark: tokens/s streamed through stream_generate vs plain.

A tiny GPT-2 (random weights, a byte-level BPE tokenizer trained on a few lines: built
offline by tests/support/tiny_causal_lm.py, nothing downloaded) generates T tokens greedily, R
rounds, each round once with plain ``model.generate()`` and once with
``jupyter_inferless.hf.stream_generate`` into the kernel's real StreamOutputHandler (its
output checks and JSON encoding) whose sink only counts the events; the order alternates
each round. It runs on the GPU when torch sees one (the model and the prompt on it), else
on the CPU with one torch thread by default.

Two figures for each kind: whole runs (tokens / the run's wall-clock time), and decoding
steps. A logits processor, the same in both kinds, notes the time at every step; a step is
everything between two tokens (the model, the stopping criteria and, when streaming, the
streamer decoding the token and sending its text). The target is the median over the
rounds of each round's ratio of median step times, plain / streamed: short runs, paired
and alternated, so that the moments other processes take the cores (which swing whole
runs by tens of percent on a busy machine) fall on both kinds alike.

    python benchmarks/hf_generate.py [--smoke] [--tokens T] [--rounds R] [--hidden H]
                                     [--layers L] [--threads N]

Exit code: 0 when every streamed run gave the plain run's tokens and text (whether or not
the target was met), 1 otherwise.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _cli import Size, machine, parse_sizes, size_parser

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # the project's root, for ``tests.support``

import torch  # noqa: E402
from transformers import LogitsProcessor, LogitsProcessorList  # noqa: E402

from jupyter_inferless.hf import stream_generate  # noqa: E402
from jupyter_inferless.kernel.model import StreamOutputHandler  # noqa: E402
from jupyter_inferless.protocol import RunError  # noqa: E402
from tests.support.tiny_causal_lm import build  # noqa: E402

TARGET = 0.95
PROMPT = "There is a fine house in the forest"
#: The size options, and their defaults with --smoke and without.
SIZES = [
    Size("--tokens", int, "new tokens per generate()", smoke=32, full=96, least=3),
    Size("--rounds", int, "rounds, each one plain and one streamed run", smoke=15, full=21),
    Size("--hidden", int, "the model's hidden size", smoke=256, full=256, least=8),
    Size("--layers", int, "the model's layers", smoke=4, full=6),
    Size("--threads", int, "torch's CPU threads (on the CPU)", smoke=1, full=1),
]


class CountingSink:
    """The handler's sink: counts the events (the kernel's outbox would queue them)."""

    def __init__(self) -> None:
        self.events = 0
        self.ended = False

    def event(self, line: str) -> None:
        self.events += 1

    def end(self, error: RunError | None) -> None:
        self.ended = error is None


class StepClock(LogitsProcessor):
    """Leaves the scores alone; notes the time at each decoding step, by ``clock``."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.times: list[float] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.times.append(self.clock())
        return scores

    def steps(self) -> list[float]:
        """The seconds between one step and the next."""
        return [
            after - before for before, after in zip(self.times[:-1], self.times[1:], strict=True)
        ]


@dataclass
class Kind:
    """One kind of run's measurements: each run's tokens/s, and its median step's seconds."""

    runs: list[float] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)


class Bench:
    """The model, its prompt, and one run of each kind."""

    def __init__(self, hidden: int, layers: int, tokens: int) -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model, self.tokenizer = build(hidden, layers, device=str(self.device))
        self.inputs = self.tokenizer(PROMPT, return_tensors="pt").to(self.device)
        self.tokens = tokens
        self.expected: list[int] | None = None
        self.plain, self.streamed = Kind(), Kind()
        # On the CPU, the generating thread's CPU time: waits for a core do not count.
        self.step_clock = time.perf_counter if self.device.type == "cuda" else time.thread_time

    def run_plain(self) -> None:
        """generate() alone; the first run's tokens are the reference."""

        def run(clock: StepClock) -> int:
            output = self.model.generate(**self.inputs, **self.options(clock))
            new = output[0, self.inputs["input_ids"].shape[1] :].tolist()
            if self.expected is None:
                self.expected = new
            check(new == self.expected, "plain generate() changed its output")
            return len(new)

        self.timed(run, self.plain)

    def run_streamed(self) -> None:
        """stream_generate into a real handler; checks its tokens, text and events."""

        def run(clock: StepClock) -> int:
            sink = CountingSink()
            handler = StreamOutputHandler(sink, threading.Event())
            result = stream_generate(
                self.model, self.tokenizer, handler, self.inputs, **self.options(clock)
            )
            check(result.token_ids == self.expected, "streamed tokens differ from generate()'s")
            text = self.tokenizer.decode(result.token_ids, skip_special_tokens=True)
            check(result.text == text, "streamed text differs from the decoded tokens")
            check(sink.ended and 0 < sink.events <= self.tokens, "events lost or not finalised")
            return len(result.token_ids)

        self.timed(run, self.streamed)

    def options(self, clock: StepClock) -> dict[str, Any]:
        """generate()'s options: greedy, T tokens, the step clock."""
        processors = LogitsProcessorList([clock])
        return {"max_new_tokens": self.tokens, "do_sample": False, "logits_processor": processors}

    def timed(self, run: Callable[[StepClock], int], kind: Kind) -> None:
        """Run once, the device synchronised before and after; note its rates in ``kind``."""
        clock = StepClock(self.step_clock)
        sync()
        started = time.perf_counter()
        tokens = run(clock)
        sync()
        kind.runs.append(tokens / (time.perf_counter() - started))
        kind.steps.append(statistics.median(clock.steps()))


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def check(ok: bool, problem: str) -> None:
    if not ok:
        raise AssertionError(problem)


def measure(bench: Bench, rounds: int) -> None:
    """Warm up, then ``rounds`` rounds of one plain and one streamed run, alternating."""
    bench.run_plain()  # the reference tokens
    bench.run_streamed()
    bench.plain, bench.streamed = Kind(), Kind()
    for i in range(rounds):
        order = (bench.run_plain, bench.run_streamed)
        for run in order if i % 2 == 0 else reversed(order):
            run()


def report(bench: Bench) -> float:
    """Print the figures; return the target's ratio."""
    plain, streamed = bench.plain, bench.streamed
    runs = statistics.median(s / p for p, s in zip(plain.runs, streamed.runs, strict=True))
    steps = statistics.median(p / s for p, s in zip(plain.steps, streamed.steps, strict=True))
    plain_step, streamed_step = statistics.median(plain.steps), statistics.median(streamed.steps)
    print(
        f"whole runs (medians): plain {statistics.median(plain.runs):.1f} tokens/s, "
        f"streamed {statistics.median(streamed.runs):.1f} tokens/s; rounds' ratio {runs:.3f}x"
    )
    print(
        f"decoding steps (medians): plain {1 / plain_step:.1f} tokens/s "
        f"({1e3 * plain_step:.3f} ms), streamed {1 / streamed_step:.1f} tokens/s "
        f"({1e3 * streamed_step:.3f} ms); rounds' ratio {steps:.3f}x"
    )
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the process exit code."""
    parser = size_parser(__doc__ or "", "a small model and a few rounds, for CI", SIZES)
    args = parse_sizes(parser, SIZES, argv)
    print(machine())
    bench = Bench(args.hidden, args.layers, args.tokens)
    if bench.device.type == "cpu":
        torch.set_num_threads(args.threads)
    params = sum(p.numel() for p in bench.model.parameters())
    print(
        f"device {bench.device}, torch {torch.__version__} ({torch.get_num_threads()} CPU "
        f"threads); GPT-2 hidden {args.hidden}, {args.layers} layers, "
        f"{params / 1e6:.2f}M parameters; {args.tokens} tokens x {args.rounds} rounds"
    )
    try:
        measure(bench, args.rounds)
    except AssertionError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    ratio = report(bench)
    print(f"tokens/s streaming / plain = {ratio:.2f}x (target >= {TARGET:.2f}x)")
    print("PASS" if ratio >= TARGET else f"FAIL: streaming / plain {ratio:.2f}x < {TARGET:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
