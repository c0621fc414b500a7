"""Stream and Broker alone (no server): replay limits, the server-wide budget, ages, pruning.

Each table row is a script of steps on a Broker with a clock the test moves; every event
costs the budget COST bytes, so budgets read as a number of events. After every step the
budget's total is checked against the streams' own accounts.
"""

from __future__ import annotations

import pytest

from jupyter_inferless.server.errors import EventsEvicted
from jupyter_inferless.server.streams.broker import Broker
from jupyter_inferless.server.streams.replay import EVENT_OVERHEAD
from jupyter_inferless.server.streams.stream import Stream
from tests.support.clock import ManualClock
from tests.support.upstream import RecordingKernel

COST = 100  # what one kept event costs the budget: its data, a newline, the overhead
EVENT = b"x" * (COST - 1 - EVENT_OVERHEAD)
MIB = 1024 * 1024
KERNEL = RecordingKernel()  # the streams' upstream


def make_broker(budget: int, **options: float) -> tuple[Broker, ManualClock]:
    """A broker whose budget holds ``budget`` events; per-stream limits out of the way."""
    clock = ManualClock()
    settings = {"replay_events": 10**6, "replay_bytes": 1 << 40, **options}
    broker = Broker(replay_budget_bytes=budget * COST, clock=clock, **settings)
    return broker, clock


def run(broker: Broker, clock: ManualClock, script: str) -> dict[str, Stream]:
    """Run steps separated by ';': ``open a``, ``send a N``, ``deliver a N`` (N more),
    ``end a``, ``at T`` (seconds on the clock), ``prune``, ``reader a +1|-1``."""
    streams: dict[str, Stream] = {}
    for step in filter(None, (part.strip() for part in script.split(";"))):
        verb, *args = step.split()
        if verb == "open":
            streams[args[0]] = broker.create("model", KERNEL, 30.0)
        elif verb == "send":
            streams[args[0]].append([EVENT] * int(args[1]))
        elif verb == "deliver":
            stream = streams[args[0]]
            stream.advance(stream.consumed + int(args[1]))
        elif verb == "end":
            streams[args[0]].finish()
        elif verb == "at":
            clock.advance(1000.0 + float(args[0]) - clock.now)
        elif verb == "prune":
            broker.prune()
        elif verb == "reader":
            stream = streams[args[0]]
            stream.subscribe() if args[1] == "+1" else stream.unsubscribe()
        else:
            raise ValueError(step)
        check_accounts(broker)
    return streams


def check_accounts(broker: Broker) -> None:
    """The budget's total is the sum of the streams' costs, every kept event's; it is over
    the limit only while the undelivered events of live streams alone are."""
    for stream in broker.streams.values():
        delivered = max(stream.consumed - stream.base, 0)
        assert stream.replay_cost == delivered * COST
        assert stream.unsent_cost == (len(stream.lines) - delivered) * COST
        assert stream.held_bytes == len(stream.lines) * len(EVENT + b"\n")
    streams = broker.streams.values()
    assert broker.budget.held == sum(s.replay_cost + s.unsent_cost for s in streams)
    live_unsent = sum(s.unsent_cost for s in streams if not s.ended)
    assert broker.budget.held <= max(broker.budget.limit, live_unsent, 0)


def kept(broker: Broker, streams: dict[str, Stream]) -> dict[str, tuple[int, int] | None]:
    """Per stream: (first kept position, total events), or None once it is forgotten."""
    return {
        name: (s.base, s.total) if broker.get(s.rid) is s else None for name, s in streams.items()
    }


@pytest.mark.parametrize(
    ("budget", "script", "expected"),
    [
        pytest.param(
            8,
            "open a; open b; open c; send a 3; deliver a 3; send b 3; deliver b 3;"
            "end b; end a; send c 3; deliver c 3",
            {"a": (0, 3), "b": (1, 3), "c": (0, 3)},
            id="finished streams go first, the first to end first",
        ),
        pytest.param(
            8,
            "open a; open b; open c; send a 3; deliver a 3; send b 3; deliver b 3;"
            "end b; end a; send c 6; deliver c 6",
            {"a": (1, 3), "b": (3, 3), "c": (0, 6)},
            id="once a finished stream is empty the next one to have ended loses",
        ),
        pytest.param(
            4,
            "open a; open b; send a 3; deliver a 3; send b 3; deliver b 3",
            {"a": (2, 3), "b": (0, 3)},
            id="live streams lose only with no finished ones, longest holder first",
        ),
        pytest.param(
            6,
            "open a; open b; open c; send a 3; deliver a 3; send b 3; deliver b 3; end b;"
            "send c 1; deliver c 1",
            {"a": (0, 3), "b": (1, 3), "c": (0, 1)},
            id="a live stream that ends goes before older live ones",
        ),
        pytest.param(
            4,
            "open a; open b; open c; send a 1; deliver a 1; send b 3; deliver b 3;"
            "send c 1; deliver c 1; send a 1; deliver a 1",
            {"a": (1, 2), "b": (1, 3), "c": (0, 1)},
            id="a live stream emptied by the budget queues again behind the others",
        ),
        pytest.param(
            2,
            "open a; send a 10; deliver a 3",
            {"a": (3, 10)},
            id="a live stream's events not yet delivered count, and are never evicted",
        ),
        pytest.param(
            0,
            "open a; send a 5; deliver a 5; end a",
            {"a": (5, 5)},
            id="a zero budget keeps no delivered event",
        ),
        pytest.param(
            4,
            "open a; open b; send a 3; end a; send b 1; deliver b 1; send b 1",
            {"a": (0, 3), "b": (1, 2)},
            id="a finished stream's undelivered events go after live streams' delivered",
        ),
        pytest.param(
            4,
            "open a; open b; send a 3; send b 3; deliver b 1; end a; end b",
            {"a": (1, 3), "b": (1, 3)},
            id="finished streams' undelivered events go last, the first to end first",
        ),
        pytest.param(
            0,
            "open a; send a 5; deliver a 2; end a",
            {"a": (5, 5)},
            id="a zero budget keeps no event of a finished stream",
        ),
        pytest.param(
            6,
            "open a; send a 3; end a; deliver a 3; open b; send b 3; end b;"
            "open c; send c 1; deliver c 1",
            {"a": (1, 3), "b": (0, 3), "c": (0, 1)},
            id="events delivered after the end go with the delivered",
        ),
        pytest.param(
            5,
            "open a; send a 3; deliver a 3; end a; open b; send b 3; deliver b 3; at 400; prune;"
            "send b 2; deliver b 2",
            {"a": None, "b": (0, 5)},
            id="pruning a stream gives its share back",
        ),
    ],
)
def test_budget_eviction_order(budget, script, expected):
    broker, clock = make_broker(budget)
    streams = run(broker, clock, script)
    assert kept(broker, streams) == expected


@pytest.mark.parametrize(
    ("replay_events", "budget", "script", "expected", "held"),
    [
        (2, 100, "open a; send a 5; deliver a 5", {"a": (3, 5)}, 2),
        (2, 1, "open a; send a 5; deliver a 5", {"a": (4, 5)}, 1),
        (100, 100, "open a; send a 5; deliver a 2; deliver a 0; deliver a 3", {"a": (0, 5)}, 5),
        (100, 3, "open a; send a 5; deliver a 2; end a; deliver a 3", {"a": (2, 5)}, 3),
    ],
    ids=[
        "the stream's own limit first",
        "then the budget",
        "an advance that delivers nothing charges nothing",
        "events delivered after the end are charged too",
    ],
)
def test_budget_accounting_after_append_advance_finish(
    replay_events, budget, script, expected, held
):
    broker, clock = make_broker(budget, replay_events=replay_events)
    streams = run(broker, clock, script)
    assert kept(broker, streams) == expected
    assert broker.budget.held == held * COST


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        pytest.param(
            "open a; at 1000; end a; at 1299; prune",
            {"a": (0, 0)},
            id="a stream that ran longer than keep_finished is kept after it ends",
        ),
        pytest.param(
            "open a; at 1000; end a; at 1301; prune",
            {"a": None},
            id="keep_finished counts from the end",
        ),
        pytest.param(
            "open a; end a; reader a +1; at 400; prune",
            {"a": (0, 0)},
            id="a stream a client is reading is kept",
        ),
        pytest.param(
            "open a; end a; reader a +1; at 400; prune; reader a -1; prune",
            {"a": None},
            id="and forgotten once the client leaves",
        ),
        pytest.param(
            "open a; at 400; prune",
            {"a": (0, 0)},
            id="a live stream is never pruned",
        ),
        pytest.param(
            "open a; open b; at 10; end b; at 20; end a; at 315; prune",
            {"a": (0, 0), "b": None},
            id="each stream ages from its own end",
        ),
    ],
)
def test_finished_streams_age_from_their_end(script, expected):
    broker, clock = make_broker(100, keep_finished=300.0)
    streams = run(broker, clock, script)
    assert kept(broker, streams) == expected


def test_a_stream_longer_than_keep_finished_is_kept_after_it_ends():
    """Regression: age counted from creation dropped a long stream the moment it ended."""
    broker, clock = make_broker(100, keep_finished=300.0)
    streams = run(broker, clock, "open a; send a 3; deliver a 3; at 1000; end a; prune")
    stream = streams["a"]
    assert stream.ended_at == clock.now
    assert broker.get(stream.rid) is stream
    assert stream.read(0) == [EVENT] * 3


def test_beyond_max_finished_the_first_to_end_is_forgotten_first():
    broker, clock = make_broker(100, max_finished=2)
    streams = run(broker, clock, "open a; open b; open c; end b; end c; end a; prune")
    assert kept(broker, streams) == {"a": (0, 0), "b": None, "c": (0, 0)}


def numbered(k: int) -> bytes:
    """An event as long as EVENT that says which one it is."""
    return b"%0*d" % (len(EVENT), k)


@pytest.mark.parametrize(
    ("position", "expected"),
    [(0, EventsEvicted), (3, EventsEvicted), (4, [4, 5]), (5, [5]), (6, [])],
)
def test_resume_positions_after_budget_eviction(position, expected):
    broker, _ = make_broker(2)
    stream = broker.create("model", KERNEL, 30.0)
    stream.append([numbered(k) for k in range(6)])
    stream.advance(6)
    stream.finish()
    assert stream.base == 4
    if expected is EventsEvicted:
        with pytest.raises(EventsEvicted, match="no longer kept"):
            stream.read(position)
    else:
        assert stream.read(position) == [numbered(k) for k in expected]


def test_events_dropped_before_anyone_read_them_are_named_so():
    """Regression: a finished stream's undelivered events escaped the budget (150 clients
    that dropped after the headers of 8 MB runs held 1.2 GB); now they are dropped last."""
    broker, _ = make_broker(2)
    stream = broker.create("model", KERNEL, 30.0)
    stream.append([numbered(k) for k in range(6)])
    stream.advance(1)
    stream.finish()
    assert (stream.base, stream.unsent_dropped, broker.budget.held) == (4, 3, 2 * COST)
    with pytest.raises(EventsEvicted, match="3 of them were dropped before any client was sent"):
        stream.read(1)
    assert stream.read(4) == [numbered(4), numbered(5)]


def test_a_stream_whose_events_were_all_evicted_keeps_its_record():
    """Regression: an evicted stream must answer 410 (or 204 at its end), never 404."""
    broker, clock = make_broker(3)
    streams = run(
        broker, clock, "open a; send a 3; deliver a 3; end a; open b; send b 3; deliver b 3"
    )
    a = streams["a"]
    assert broker.get(a.rid) is a
    assert (a.base, a.total, a.consumed, a.ended) == (3, 3, 3, True)


def test_many_finished_streams_hold_no_more_than_the_budget():
    """Regression: 150 finished 4 MiB streams kept 600 MiB (per-stream limits only)."""
    line = b"x" * 4095  # one shared object: the test itself stays small
    broker = Broker(replay_budget_bytes=64 * MIB)
    for _ in range(150):
        stream = broker.create("model", KERNEL, 30.0)
        stream.append([line] * 1023)
        stream.advance(stream.total)
        stream.finish()
    held = sum(s.held_bytes for s in broker.streams.values())
    assert broker.budget.held <= 64 * MIB
    assert held <= 64 * MIB
    assert len(broker.streams) == 150
    assert held > 60 * MIB  # the budget is used, not emptied
    newest = list(broker.streams.values())[-1]
    assert newest.base == 0, "the stream that ended last is kept whole"


def test_finished_streams_are_pruned_on_a_timer_without_a_new_stream():
    """Regression: pruning ran only when a new stream started."""
    broker, clock = make_broker(100, keep_finished=300.0, prune_interval=5.0)
    stream = broker.create("model", KERNEL, 30.0)
    stream.finish()
    broker.start()
    broker.start()  # idempotent: the extension may begin twice
    assert len(clock.pending) == 1
    clock.advance(300.0)
    assert broker.get(stream.rid) is stream, "kept keep_finished seconds after its end"
    clock.advance(5.0)
    assert broker.get(stream.rid) is None, "then the next look forgets it"
    broker.stop()
    assert clock.pending == []
