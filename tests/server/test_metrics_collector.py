"""One server's metrics: its own series and gauges, in a registry only while it runs."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry

from jupyter_inferless import protocol
from jupyter_inferless.server.kernels.registry import ModelEntry
from jupyter_inferless.server.observe.metrics import GAUGES, Metrics, MetricsCollector

SERIES = {
    "inferless_requests",
    "inferless_stream_events",
    "inferless_errors",
    "inferless_time_to_first_event_seconds",
    "inferless_refused_busy",
    *(name for name, _ in GAUGES),
}


class Models:
    """A catalog's one method the gauges read: the served models, with their counters."""

    def __init__(self, *entries: ModelEntry) -> None:
        self.entries = list(entries)

    def models(self) -> list[ModelEntry]:
        return self.entries


def entry(name: str, active: int, max_concurrency: int = 1) -> ModelEntry:
    schema = {"inputs": [], "streaming": False, "declared": True}
    described = protocol.model_description(
        name=name,
        class_name="M",
        source="",
        schema=schema,
        streaming=False,
        device={},
        max_concurrency=max_concurrency,
        queue_size=0,
        notes=[],
    )
    served = ModelEntry("kernel", described, joined=0)
    served.active = active
    return served


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_two_servers_count_apart_and_each_gauge_reads_its_own_catalog():
    first, second = Metrics(), Metrics()
    first.answered("m", 200)
    first.answered("m", 429)
    first.received("m", 5)
    first.received("m", 2)
    second.failed("m", "model_error")
    first_registry, second_registry = CollectorRegistry(), CollectorRegistry()
    assert MetricsCollector(first, Models(entry("m", active=3))).register(first_registry)
    assert MetricsCollector(second, Models(entry("other", active=1))).register(second_registry)

    assert sample(first_registry, "inferless_requests_total", model="m", code="200") == 1
    assert sample(first_registry, "inferless_refused_busy_total", model="m") == 1
    assert sample(first_registry, "inferless_stream_events_total", model="m") == 7
    assert sample(first_registry, "inferless_errors_total", model="m", kind="model_error") is None
    assert sample(first_registry, "inferless_streams_active", model="m") == 3
    assert sample(first_registry, "inferless_queue_depth", model="m") == 2
    assert sample(first_registry, "inferless_streams_active", model="other") is None

    assert sample(second_registry, "inferless_errors_total", model="m", kind="model_error") == 1
    assert sample(second_registry, "inferless_requests_total", model="m", code="200") is None
    assert sample(second_registry, "inferless_streams_active", model="other") == 1


def test_replicas_of_a_name_are_summed_in_the_gauges():
    registry = CollectorRegistry()
    catalog = Models(entry("m", active=3, max_concurrency=2), entry("m", active=1))
    MetricsCollector(Metrics(), catalog).register(registry)
    assert sample(registry, "inferless_streams_active", model="m") == 4
    assert sample(registry, "inferless_queue_depth", model="m") == 1


def test_the_collector_leaves_its_registry_and_a_second_one_is_refused_with_a_warning(caplog):
    registry = CollectorRegistry()
    running = MetricsCollector(Metrics(), Models())
    assert running.register(registry)
    assert {family.name for family in registry.collect()} == SERIES

    another = MetricsCollector(Metrics(), Models())
    with caplog.at_level(logging.WARNING, logger="ServerApp.jupyter_inferless"):
        assert not another.register(registry)
    assert "not reported" in caplog.text
    another.unregister()  # never registered: nothing to do

    running.unregister()
    running.unregister()  # a second stop is harmless
    assert list(registry.collect()) == []
    assert another.register(registry), "once the first server stopped, the next one reports"
