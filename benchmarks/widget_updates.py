"""Widget update rate: how often the inline stream view redraws under a fast stream.

The view (``jupyter_inferless.widget.view.StreamView``) applies its state to its widgets at
most every ``interval`` (1/30 s) however fast events come, so a fast stream costs the
frontend a bounded number of comm messages. Here, in this process (no server, no kernel:
ipywidgets without a frontend), one thread adds text events to a view at a steady rate
for D seconds, then ends the stream; the figure is the view's updates per second from its
first event to its final state (the first update, which nothing paces, not counted). The
same feed without the throttle (``interval=0``) shows what it saves.

    python benchmarks/widget_updates.py [--smoke] [--seconds D] [--rate R]

Target: at most 30 updates/s. Missing it is reported (FAIL), not failed: the exit code is 0
whenever the view showed every event's text, 1 when it did not.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from _cli import Size, machine, parse_sizes, size_parser

from jupyter_inferless.widget.view import StreamView

TARGET = 30.0  # updates per second
BATCH_SECONDS = 0.005  # the feed adds its events in batches this far apart
SIZES = [
    Size("--seconds", float, "seconds of feed", smoke=1, full=5, least=0.1),
    Size("--rate", int, "events per second", smoke=20_000, full=20_000),
]


def feed(view: StreamView, seconds: float, rate: int) -> tuple[int, float]:
    """Add ``rate`` events a second to ``view`` for ``seconds``, end it and wait until its
    final state is shown; the events added and the seconds from the first to the end."""
    per_batch = max(1, round(rate * BATCH_SECONDS))
    started = time.monotonic()
    added = 0
    while time.monotonic() - started < seconds:
        for _ in range(per_batch):
            view.add({"OUT": "x"})
        added += per_batch
        time.sleep(max(0.0, started + added / rate - time.monotonic()))
    view.finish("done")
    view.wait(30)
    return added, time.monotonic() - started


def measure(seconds: float, rate: int, interval: float) -> tuple[float, bool]:
    """One view fed at ``rate`` for ``seconds``: its updates per second, and whether it
    showed every event's text."""
    view = StreamView("bench", interval=interval)
    before = view.updates  # the view is drawn once as it is built
    added, took = feed(view, seconds, rate)
    updates = view.updates - before
    complete = view.state == "done" and view.text == "x" * added
    per_second = (updates - 1) / took
    print(
        f"interval {interval * 1000:5.1f} ms: {added} events in {took:.2f} s, "
        f"{updates} updates = {per_second:.1f}/s after the first"
    )
    return per_second, complete


def main(argv: Sequence[str] | None = None) -> int:
    parser = size_parser(__doc__ or "", "a 1 s feed", SIZES)
    args = parse_sizes(parser, SIZES, argv)
    print(machine())
    throttled, complete = measure(args.seconds, args.rate, 1 / 30)
    _, unthrottled_complete = measure(args.seconds, args.rate, 0.0)
    verdict = "PASS" if throttled <= TARGET else f"FAIL: {throttled:.1f} updates/s"
    print(f"updates/s  {throttled:.1f}  (target <= {TARGET:g})")
    print(verdict)
    return 0 if complete and unthrottled_complete else 1


if __name__ == "__main__":
    sys.exit(main())
