"""Prometheus metrics on jupyter_server's own /metrics: the series move with real traffic."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.support.models import COUNTER
from tests.support.sse_reader import read_stream
from tests.support.waiting import until

STREAM = "inferless/v2/models/counted/generate_stream"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(api) -> Samples:
    """Every sample of ``GET {base_url}metrics``, by name and labels (token authenticated)."""
    result = await read_stream(api.url("metrics"), method="GET", headers=api.auth)
    assert result.status == 200, result.body
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(result.body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset({"model": "counted", **labels}.items())), 0.0)


async def test_metrics_move_with_streams_refusals_errors_and_the_queue(kernel, api, report):
    await kernel.run(COUNTER.serve("counted", max_concurrency=1, queue_size=1))
    await api.wait_for_model("counted")
    status, _ = await api.call("metrics", auth=False)
    assert status == 403  # jupyter_server serves /metrics to authenticated clients only
    before = await scrape(api)
    counted = {key: count for key, count in before.items() if key[0].startswith("inferless_")}
    assert set(counted.values()) == {0}, "a new server counts from zero, whatever ran before"

    ok = await api.stream(STREAM, {"n": 7})
    assert ok.status == 200 and len(ok.events) == 7
    bad = await api.stream(STREAM, {})  # n is required
    assert bad.status == 400, bad.body
    failed = await api.stream(STREAM, {"n": 2, "fail": True})
    assert failed.outputs[-1]["kind"] == "model_error"

    slow = [asyncio.ensure_future(api.stream(STREAM, {"n": 5, "pause_ms": 200})) for _ in range(2)]

    async def both_in() -> Samples | None:  # one running, one queued behind max_concurrency=1
        samples = await scrape(api)
        return samples if value(samples, "inferless_streams_active") == 2 else None

    during = await until(both_in, "two streams active")
    assert value(during, "inferless_queue_depth") == 1
    busy = await api.stream(STREAM, {"n": 1})
    assert busy.status == 429, busy.body
    assert [result.status for result in await asyncio.gather(*slow)] == [200, 200]
    after = await scrape(api)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    deltas = {
        "200": delta("inferless_requests_total", code="200"),
        "400": delta("inferless_requests_total", code="400"),
        "429": delta("inferless_requests_total", code="429"),
        "busy": delta("inferless_refused_busy_total"),
        "events": delta("inferless_stream_events_total"),
        "model_error": delta("inferless_errors_total", kind="model_error"),
        "first_event": delta("inferless_time_to_first_event_seconds_count"),
    }
    assert deltas == {
        "200": 4,  # n=7, the failing run, the two slow ones
        "400": 1,
        "429": 1,
        "busy": 1,
        "events": 7 + 2 + 5 + 5,
        "model_error": 1,
        "first_event": 4,
    }
    assert value(after, "inferless_streams_active") == 0
    assert value(after, "inferless_queue_depth") == 0
    report(
        "metrics deltas after 4 streams, a 400, a 429 and a model error: "
        + ", ".join(f"{key} +{int(count)}" for key, count in deltas.items())
        + f"; during: active 2, queued {int(value(during, 'inferless_queue_depth'))}"
    )


async def test_the_series_leave_jupyter_servers_registry_when_the_extension_stops(
    jp_serverapp, kernel, api
):
    await kernel.run(COUNTER.serve("counted"))
    await api.wait_for_model("counted")
    assert (await api.stream(STREAM, {"n": 3})).status == 200
    running = await scrape(api)
    assert value(running, "inferless_requests_total", code="200") == 1
    assert value(running, "inferless_stream_events_total") == 3

    await jp_serverapp.extension_manager.stop_all_extensions()
    stopped = await scrape(api)  # the server still answers: only the extension stopped
    assert not [name for name, _ in stopped if name.startswith("inferless_")]
    assert not [family for family in REGISTRY.collect() if family.name.startswith("inferless_")]
