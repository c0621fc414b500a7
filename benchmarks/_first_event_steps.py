"""first_event.py's reading of the marks: the steps of a first event's path, and the parts
of jupyter_server and ipykernel, as tables.

A request's marks are the client's (``c.connect``, ``c.send``, ``c.first``: the first event
parsed) and those the hooks (``_first_event_hooks.py``) noted in the server and the kernel
from its connect to the next request's. A step is the time between two marks of the path,
in the order a request meets them, so the steps add up to the first event's latency from
the send. The parts are spans (``NAME>`` to ``NAME<``) of single functions.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

Mark = tuple[int, str]  # (time.monotonic_ns(), name)
LABEL = 68  # the width of a part's label


class Step(NamedTuple):
    """A step of the path: the mark that ends it, what happened, and whose code ran.

    ``passable``: the mark is noted after a hand-over to another thread or process (a send,
    a notify), which may reach the next mark first; the step then ends at the next mark
    (what was left of the call was not on the path).
    """

    mark: str
    what: str
    whose: str
    passable: bool = False


SERVER_IN = [
    Step("s.request", "tornado reads and parses the request's head", "tornado"),
    Step("s.handler<", "route, handler made (jupyter_server's default headers)", "jupyter_server"),
    Step("jp.prepare<", "jupyter_server's prepare: host, token, login cookie", "jupyter_server"),
    Step("s.prepare<", "our prepare: the body's limits", "ours"),
    Step("s.post", "tornado reads the body", "tornado"),
    Step("s.generate", "@web.authenticated, jupyter_server's @authorized", "jupyter_server"),
    Step("s.turn<", "admission: TurnGate", "ours"),
    Step("s.start<", "JSON, validation, replica, stream, request queued", "ours"),
    Step("s.flush<", "the SSE response's head built and written", "ours"),
    Step("s.to_kernel>", "the loop's turn ends (asyncio)", "tornado"),
    Step("s.to_kernel<", "the request packed, signed, sent on shell", "ours", passable=True),
    Step("k.recv>", "ZMQ to the kernel's shell channel thread", "ZMQ, threads"),
    Step("k.dispatch>", "ipykernel routes it to the link's subshell thread", "ipykernel"),
    Step("k.comm>", "ipykernel: deserialise, busy status, hooks", "ipykernel"),
    Step("k.on_msg", "ipykernel's comm manager, pre_execute hooks", "ipykernel"),
    Step("k.handle>", "our decode", "ours"),
    Step("k.submit>", "outbox opened (its thread started), model found", "ours"),
]
BACK = [
    Step("k.iopub_send<", "the IOPub thread's ZMQ send", "ipykernel", passable=True),
    Step("s.recv>", "ZMQ to the server, its loop wakes", "ZMQ, threads"),
    Step("s.frame>", "message deserialised, signature checked", "ours"),
    Step("s.append", "frame decoded, events received", "ours"),
    Step("s.write>", "the stream's reader wakes, SSE formatted", "ours"),
    Step("s.write<", "written to the socket", "tornado", passable=True),
    Step("c.first", "the client reads and parses it", "client"),
]
PATHS: dict[str, list[Step]] = {
    "thread": [
        *SERVER_IN,
        Step("k.run", "a worker thread wakes", "ZMQ, threads"),
        Step("k.infer", "the adapter calls infer", "ours"),
        Step("k.send>", "the model's code up to its first send", "model"),
        Step("k.frame>", "output checks, JSON, outbox (sent inline)", "ours"),
        Step("k.iopub", "the frame built, serialised, signed", "ours"),
        Step("k.iopub_send>", "ipykernel's IOPub thread wakes", "ipykernel"),
        *BACK,
    ],
    "async": [
        *SERVER_IN,
        Step("k.run", "a task starts on the model's loop", "ZMQ, threads"),
        Step("k.infer", "the adapter calls infer", "ours"),
        Step("k.send>", "the model's code up to its first send", "model"),
        Step("k.send<", "output checks, JSON, queued", "ours", passable=True),
        Step("k.frame>", "the outbox thread wakes", "ZMQ, threads"),
        Step("k.iopub", "the frame built, serialised, signed", "ours"),
        Step("k.iopub_send>", "ipykernel's IOPub thread wakes", "ipykernel"),
        *BACK,
    ],
}
OURS_PARTS = [
    ("s.prepare", "prepare, ours and jupyter_server's"),
    ("s.start", "start: JSON, validation, replica, stream, request queued"),
    ("s.json", "  the body's JSON"),
    ("s.validate", "  validation against the model's schema"),
    ("s.bridge", "  the bridge: infer message built, checked, queued"),
    ("s.headers", "the SSE response's headers set"),
    ("s.flush", "its head written (the first flush)"),
    ("s.to_kernel", "the request packed, signed, sent"),
    ("k.handle", "kernel: the request handled (outbox opened, model found, submitted)"),
    ("k.open", "  the outbox opened (its sender thread started)"),
    ("k.submit", "  submitted to the model"),
    ("k.send", "kernel: send_streamed_output (thread path: the frame sent inline)"),
    ("k.frame", "  the frame built and handed to IOPub"),
    ("s.recv", "server: the frame's message read"),
    ("s.frame", "  its frame decoded, events received"),
    ("s.write", "the event written"),
]
JUPYTER_PARTS = [
    ("s.handler", "handler made (tornado; jupyter_server's default headers)"),
    ("jp.prepare", "prepare, all of jupyter_server's"),
    ("jp.host", "  host check"),
    ("jp.user", "  token authentication (get_user), with the next two"),
    ("jp.anon", "    an anonymous user made (no cookie came)"),
    ("jp.cookie", "    the login cookie set (signed) for the token's user"),
    ("jp.xsrf", "  XSRF checks (tornado's and jupyter_server's)"),
    ("jp.cors", "  CORS headers"),
    ("jp.origin", "  origin check"),
    ("jp.authz", "authorization (@authorized: is_authorized)"),
    ("jp.log", "request log, at the stream's end (off the path)"),
    ("jp.activity", "API activity, at finish (off the path)"),
]


@dataclass
class Request:
    """One request: the client's marks, then those of the server and kernel in its window."""

    client: dict[str, int]
    marks: list[Mark] = field(default_factory=list)

    def first(self, name: str) -> int | None:
        """When ``name`` was first noted (from the send on), or None."""
        if name.startswith("c."):
            return self.client.get(name)
        start = self.client["c.send"]
        return next((t for t, n in self.marks if n == name and t >= start), None)

    def anywhere(self, name: str) -> int | None:
        """When ``name`` was first noted in the request's window (from its connect)."""
        return next((t for t, n in self.marks if n == name), None)

    def spans(self, name: str, lo: int = 0, hi: int | None = None) -> list[int]:
        """Each ``name>`` .. ``name<`` span between ``lo`` and ``hi``, in ns."""
        out, opened = [], None
        for t, n in self.marks:
            if t < lo or (hi is not None and t > hi):
                continue
            if n == f"{name}>":
                opened = t
            elif n == f"{name}<" and opened is not None:
                out.append(t - opened)
                opened = None
        return out


def assign(requests: Sequence[Request], marks: list[Mark], end: int) -> None:
    """Give each request the marks from its connect to the next one's (the last: ``end``)."""
    marks = sorted(marks)
    times = [t for t, _ in marks]
    for i, request in enumerate(requests):
        hi = requests[i + 1].client["c.connect"] if i + 1 < len(requests) else end
        lo = bisect.bisect_left(times, request.client["c.connect"])
        request.marks.extend(marks[lo : bisect.bisect_left(times, hi)])


Row = tuple[list[int], list[bool]]
"""One request's steps (ns), and for each whether it ended at the next mark (passable)."""


def step_times(request: Request, path: Sequence[Step]) -> Row | None:
    """The path's steps of one request; None when a mark is missing."""
    send, found = request.first("c.send"), [request.first(step.mark) for step in path]
    ends = [t for t in found if t is not None]
    if send is None or len(ends) < len(path):
        return None
    passed = [False] * len(path)
    for i in range(len(path) - 2, -1, -1):
        if path[i].passable and ends[i] > ends[i + 1]:
            ends[i], passed[i] = ends[i + 1], True
    return [b - a for a, b in itertools.pairwise([send, *ends])], passed


def _us(ns: float) -> str:
    return f"{ns / 1e3:,.1f}"


def print_steps(path: Sequence[Step], rows: list[Row]) -> None:
    """The table of steps: median and mean µs, and each step's share of the mean total
    (means add up, medians do not)."""
    totals = [sum(steps) for steps, _ in rows]
    mean_total = statistics.fmean(totals)
    print(f"  {'step':<58} {'whose':<15} {'median µs':>10} {'mean µs':>9} {'share':>6}")
    owners: dict[str, float] = {}
    for i, step in enumerate(path):
        values = [steps[i] for steps, _ in rows]
        mean = statistics.fmean(values)
        owners[step.whose] = owners.get(step.whose, 0.0) + mean
        late, passed = sum(v < 0 for v in values), sum(p[i] for _, p in rows)
        note = f"  ({late} out of order)" if late else ""
        note += f"  (passed in {passed})" if passed else ""
        print(
            f"  {step.what:<58} {step.whose:<15} {_us(statistics.median(values)):>10} "
            f"{_us(mean):>9} {mean / mean_total:>6.1%}{note}"
        )
    print(
        f"  {'total: send -> first event parsed':<74} {_us(statistics.median(totals)):>10} "
        f"{_us(mean_total):>9} {1:>6.0%}"
    )
    ranked = sorted(owners.items(), key=lambda item: -item[1])
    shares = ", ".join(f"{whose} {_us(us)} ({us / mean_total:.0%})" for whose, us in ranked)
    print(f"  by whose code (mean µs, share): {shares}")


def _heading(title: str) -> None:
    print(f"  {title:<{LABEL}} {'median µs':>10} {'mean µs':>9}")


def _span_row(label: str, values: list[int]) -> None:
    if values:
        median, mean = _us(statistics.median(values)), _us(statistics.fmean(values))
        print(f"  {label:<{LABEL}} {median:>10} {mean:>9}")
    else:
        print(f"  {label:<{LABEL}} {'-':>10} {'-':>9}")


def _parts(title: str, parts: Sequence[tuple[str, str]], requests: Sequence[Request]) -> None:
    _heading(title)
    for name, label in parts:
        _span_row(label, [sum(r.spans(name)) for r in requests if r.spans(name)])


def print_parts(requests: Sequence[Request]) -> None:
    """The time inside our functions on the path, tornado's and jupyter_server's parts of
    each request, and ipykernel's of its comm message (µs)."""
    _parts("ours, inside the functions (each a sum over the request)", OURS_PARTS, requests)
    _heading("tornado, per request")
    accepted = [(r, r.anywhere("s.accept"), r.first("s.request")) for r in requests]
    _span_row("client's connect -> connection accepted (before the send)",
              [a - r.client["c.connect"] for r, a, _ in accepted if a is not None])  # fmt: skip
    _span_row("connection accepted -> request head parsed",
              [h - a for _, a, h in accepted if a is not None and h is not None])  # fmt: skip
    _parts("jupyter_server, per request", JUPYTER_PARTS, requests)
    watch = [r.spans("jp.iopub_watch", r.client["c.send"], r.client["c.first"]) for r in requests]
    calls = statistics.median(len(w) for w in watch)
    _span_row(f"IOPub activity watcher, send -> first event ({calls:g} messages)",
              [sum(w) for w in watch])  # fmt: skip
    between = [(r, r.first("k.iopub_send>"), r.first("s.recv>")) for r in requests]
    _span_row("  of which between the frame's IOPub send and our read of it", [
        sum(r.spans("jp.iopub_watch", a, b)) for r, a, b in between if a and b
    ])  # fmt: skip
    _ipykernel_parts(requests)


def _ipykernel_parts(requests: Sequence[Request]) -> None:
    _heading("ipykernel, per comm message (the request)")
    recv, dispatch, comm, status, after = [], [], [], [], []
    for r in requests:
        spans, comms = r.spans("k.dispatch"), r.spans("k.comm")
        d_start, c_end = r.first("k.dispatch>"), r.first("k.comm<")
        if not spans or not comms or d_start is None or c_end is None:
            continue
        recv.extend(r.spans("k.recv")[:1])
        dispatch.append(spans[0])
        comm.append(comms[0])
        status.append(sum(r.spans("k.status", d_start, d_start + spans[0])))
        after.append(d_start + spans[0] - c_end)
    _span_row("shell channel thread: read, route to the subshell", recv)
    _span_row("dispatch on the subshell thread, all of it", dispatch)
    _span_row("  of which the comm handler (comm manager, hooks, ours)", comm)
    own = [d - c for d, c in zip(dispatch, comm, strict=True)]
    _span_row("  of which ipykernel's own (dispatch - comm handler)", own)
    _span_row("    of which the busy and idle status messages", status)
    _span_row("  after the handler: post_execute, flushes, idle (beside the model)", after)
