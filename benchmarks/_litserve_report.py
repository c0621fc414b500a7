"""vs_litserve.py's report: per path, the table of both servers' rows with the ratio, then
each of issue 20's targets, PASS or FAIL."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from _probe import percentile
from token_rate import Tally

#: Issue 20's figures for jupyter_inferless (thread path) that the next work may not lose.
ISSUE_EVENTS_PER_S = 91_203
ISSUE_MANY_P99_MS = 27.0


@dataclass
class Row:
    """One measure of both servers: its label, each value, and whether lower is better."""

    label: str
    ours: float | None
    theirs: float | None
    unit: str
    lower_is_better: bool = True

    def shown(self, value: float | None) -> str:
        """The value with its unit."""
        return "n/a" if value is None else f"{_number(value)}{self.unit}"

    def ratio(self) -> float | None:
        """How many times better ours is (below 1: worse); None when it cannot be said."""
        if self.ours is None or self.theirs is None or self.ours <= 0 or self.theirs <= 0:
            return None
        return self.theirs / self.ours if self.lower_is_better else self.ours / self.theirs

    def ahead(self) -> bool:
        """Ours is at least as good as theirs."""
        ratio = self.ratio()
        return ratio is not None and ratio >= 1


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def _said(ratio: float | None) -> str:
    if ratio is None:
        return "n/a"
    return f"{ratio:.1f}x ahead" if ratio >= 1 else f"**{1 / ratio:.1f}x behind**"


def _ms(values: Sequence[float], q: float) -> float | None:
    return percentile(values, q) * 1e3 if values else None


def ms_text(values: Sequence[float]) -> str:
    """p50, p99 and max of durations in seconds, in milliseconds."""
    if not values:
        return "none"
    p50, p99 = percentile(values, 50) * 1e3, percentile(values, 99) * 1e3
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(values) * 1e3:.1f} ms"


def _median(values: Sequence[float], scale: float = 1.0) -> float | None:
    return statistics.median(values) * scale if values else None


@dataclass
class Side:
    """What the report reads of one server on one path."""

    rates: list[float]
    ttfes: list[float]
    one: Tally
    many: Tally
    memory_kib: float | None


def table_rows(ours: Side, theirs: Side, streams: int) -> list[Row]:
    """The rows of issue 20's table."""
    return [
        Row("events/s, one stream", _median(ours.rates), _median(theirs.rates), "", False),
        Row(
            f"{streams} streams x 50 ev/s, added latency p99",
            _ms(ours.many.latencies, 99),
            _ms(theirs.many.latencies, 99),
            " ms",
        ),
        Row("first event", _median(ours.ttfes, 1e3), _median(theirs.ttfes, 1e3), " ms"),
        Row(
            "one stream at 100 ev/s, added latency p50",
            _ms(ours.one.latencies, 50),
            _ms(theirs.one.latencies, 50),
            " ms",
        ),
        Row(
            "one stream at 100 ev/s, added latency p99",
            _ms(ours.one.latencies, 99),
            _ms(theirs.one.latencies, 99),
            " ms",
        ),
        Row(
            f"memory per open stream, server processes together, {streams} streams",
            ours.memory_kib,
            theirs.memory_kib,
            " KiB",
        ),
    ]


def print_table(title: str, found: list[Row], names: tuple[str, str]) -> None:
    """The rows as a Markdown table."""
    print(f"\n{title}\n")
    print(f"| measure | {names[0]} | {names[1]} | |")
    print("|---|---|---|---|")
    for row in found:
        values = f"{row.shown(row.ours)} | {row.shown(row.theirs)}"
        print(f"| {row.label} | {values} | {_said(row.ratio())} |")


class Verdict:
    """The targets, each printed with PASS or FAIL; ``missed`` names those that failed."""

    def __init__(self) -> None:
        self.missed: list[str] = []

    def check(self, path: str, target: str, ok: bool, shown: str) -> None:
        """Print one target's line."""
        print(f"  {path}: {target}: {shown}  {'PASS' if ok else 'FAIL'}")
        if not ok:
            self.missed.append(f"{path}: {target}")

    def path(self, path: str, found: list[Row], streams: int) -> None:
        """Issue 20's targets for one path's rows (``streams``: how many the S rows had)."""
        rates, many, first, p50, p99, memory = found
        for row, target in [
            (first, "first event <= LitServe's"),
            (p50, "100 ev/s added latency p50 <= LitServe's"),
            (p99, "100 ev/s added latency p99 <= LitServe's"),
            (memory, "memory per open stream <= LitServe's"),
            (rates, "events/s ahead of LitServe"),
            (many, f"{streams}-stream added latency p99 ahead of LitServe"),
        ]:
            self.check(
                path, target, row.ahead(), f"{row.shown(row.ours)} vs {row.shown(row.theirs)}"
            )
        if path != "thread":
            return
        floor = f"events/s >= {ISSUE_EVENTS_PER_S:,} (issue 20's)"
        self._floor(path, rates, floor, lambda v: v >= ISSUE_EVENTS_PER_S)
        ceiling = f"{streams}-stream p99 <= {ISSUE_MANY_P99_MS:g} ms (issue 20's, at 256)"
        self._floor(path, many, ceiling, lambda v: v <= ISSUE_MANY_P99_MS)

    def _floor(self, path: str, row: Row, target: str, ok: Callable[[float], bool]) -> None:
        self.check(path, target, row.ours is not None and ok(row.ours), row.shown(row.ours))
