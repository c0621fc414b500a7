"""What the benchmarks' command lines share: size options whose defaults ``--smoke`` makes
small, a line about the machine, and a measurement run in a temporary folder that cleans
up after itself and turns errors, Ctrl-C and SIGTERM into exit codes."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import psutil

R = TypeVar("R")


@dataclass(frozen=True)
class Size:
    """A size option: its flag, type and help, its default with ``--smoke`` and without,
    and the least value it takes."""

    flag: str
    kind: Callable[[str], Any]
    help: str
    smoke: float
    full: float
    least: float = 1

    @property
    def dest(self) -> str:
        """The option's attribute in the parsed arguments."""
        return self.flag.removeprefix("--").replace("-", "_")


def size_parser(doc: str, smoke_help: str, sizes: Sequence[Size]) -> argparse.ArgumentParser:
    """A parser with ``--smoke`` and the size options (described by ``doc``'s first part)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help=smoke_help)
    for size in sizes:
        parser.add_argument(size.flag, type=size.kind, help=f"{size.help} (default {size.full:g})")
    return parser


def parse_sizes(
    parser: argparse.ArgumentParser, sizes: Sequence[Size], argv: Sequence[str] | None
) -> argparse.Namespace:
    """Parse ``argv``; a size not given takes its smoke or full default, and is checked."""
    args = parser.parse_args(argv)
    for size in sizes:
        if getattr(args, size.dest) is None:
            setattr(args, size.dest, size.smoke if args.smoke else size.full)
        if getattr(args, size.dest) < size.least:
            parser.error(f"{size.flag} must be >= {size.least:g}")
    return args


def machine() -> str:
    """How busy this machine is, for the first line a benchmark prints."""
    return f"machine load average {os.getloadavg()[0]:.2f} on {psutil.cpu_count()} cores"


def _sigterm_as_sigint(signum: int, frame: FrameType | None) -> None:
    """Treat SIGTERM like Ctrl-C (asyncio.run then cancels the streams cleanly)."""
    signal.raise_signal(signal.SIGINT)


def run_measured(
    prefix: str,
    errors: tuple[type[Exception], ...],
    measure: Callable[[Path, contextlib.ExitStack], R],
) -> R:
    """Run ``measure`` in a temporary folder; what it puts on the ExitStack (stopping its
    servers) runs after it, with signals ignored so that a second Ctrl-C cannot cut the
    cleanup short. One of ``errors`` exits with 1, Ctrl-C or SIGTERM with 130."""
    signal.signal(signal.SIGTERM, _sigterm_as_sigint)
    with tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True) as tmp:
        stack = contextlib.ExitStack()
        try:
            return measure(Path(tmp), stack)
        except errors as err:
            print(f"ERROR: {err}", file=sys.stderr)
            raise SystemExit(1) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            stack.close()
