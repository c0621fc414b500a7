"""Sampling a process with py-spy during a load, and the top functions of its samples.

``record`` starts ``py-spy record --format raw`` (collapsed stacks: one line per distinct
stack, ``outer;...;inner COUNT``) on a process; ``top_functions`` reads such a file and
ranks functions by self samples (the innermost frame) and by total samples (anywhere in
the stack), as shares of all samples. With ``--gil`` py-spy samples only the thread
holding the GIL, so the shares say where the GIL goes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

_LINE = re.compile(r":\d+\)$")  # a frame's line number: functions are counted, not lines


def py_spy() -> str | None:
    """The py-spy executable (beside this Python's, or on PATH), or None."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, out: Path, seconds: int, options: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start ``py-spy record`` on ``pid`` for ``seconds`` into ``out`` (raw format), with
    more ``options`` (e.g. ``--gil``, ``--rate 20``, ``--nonblocking``); py-spy's own output
    goes to ``out`` with ``.log`` appended."""
    exe = py_spy()
    if exe is None:
        raise FileNotFoundError("py-spy is not installed (pip install py-spy)")
    argv = [
        exe, "record", "--pid", str(pid), "--output", str(out), "--format", "raw",
        "--duration", str(seconds), *options,
    ]  # fmt: skip
    with Path(f"{out}.log").open("wb") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def _frame(raw: str) -> str:
    """``function (dir/file.py:LINE)`` -> ``function (dir/file.py)``, the path shortened to
    its last two parts."""
    name, _, where = raw.partition(" (")
    where = _LINE.sub(")", f"({where}") if where else ""
    path = where.strip("()")
    short = "/".join(Path(path).parts[-2:]) if path else ""
    return f"{name} ({short})" if short else name


def top_functions(raw_file: Path, n: int = 12) -> tuple[int, list[tuple[str, int, int]]]:
    """All samples, and the ``n`` functions with the most self samples, each as
    (function, self samples, total samples)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw_file.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";")]
        samples += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            total[frame] += int(count)
    return samples, [(f, own[f], total[f]) for f, _ in own.most_common(n)]


def top_total(raw_file: Path, n: int = 12) -> list[tuple[str, int]]:
    """The ``n`` functions found in the most samples (anywhere in the stack)."""
    total: Counter[str] = Counter()
    for line in raw_file.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            for frame in {_frame(f) for f in stack.split(";")}:
                total[frame] += int(count)
    return total.most_common(n)


def print_top(raw_file: Path, n: int = 12) -> None:
    """Print the top functions by self samples, then by total samples."""
    samples, ranked = top_functions(raw_file, n)
    if not samples:
        print(f"profile: no samples in {raw_file.name}")
        return
    print(f"profile {raw_file.name}: {samples} samples; top functions by self samples")
    for name, own, total in ranked:
        print(f"  self {own / samples:6.1%}  total {total / samples:6.1%}  {name}")
    print("  by total samples:")
    for name, total in top_total(raw_file, n):
        print(f"  total {total / samples:6.1%}  {name}")
