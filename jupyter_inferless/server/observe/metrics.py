"""Prometheus metrics of one server, on jupyter_server's own ``{base_url}metrics``.

The extension app makes one :class:`Metrics`: its series, created unregistered, and one
hook per event. While the app runs, a :class:`MetricsCollector` over them and the app's
catalog is registered in jupyter_server's registry (prometheus_client's default
``REGISTRY``); the gauges are read from the catalog at scrape time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ..kernels.registry import ModelEntry

UNKNOWN_MODEL = "(unknown)"  # the label of a refusal naming no served model: bounded labels
log = logging.getLogger("ServerApp.jupyter_inferless")  # the server log's handlers

GAUGES = (
    ("inferless_streams_active", "Requests started and not ended (running or queued)."),
    ("inferless_queue_depth", "Requests waiting in the kernel beyond max_concurrency."),
)


class Catalog(Protocol):
    def models(self) -> list[ModelEntry]: ...  # the served models (``catalog.Catalog``)


class Metrics:
    """One server's counters and histogram, counted by one hook per event."""

    def __init__(self) -> None:
        self.requests = Counter(
            "inferless_requests_total",
            "Inference requests (generate_stream, infer, generate) by the HTTP status "
            "answered: 200 once a stream starts or a one-shot answers; refusals 400, 404, "
            "429, 503, ...",
            ["model", "code"],
            registry=None,
        )
        self.events = Counter(
            "inferless_stream_events_total",
            "Events received from the kernel for the model's requests (streamed and one-shot).",
            ["model"],
            registry=None,
        )
        self.errors = Counter(
            "inferless_errors_total",
            "In-band errors, by ErrorKind: runs that ended with one, and readers evicted.",
            ["model", "kind"],
            registry=None,
        )
        self.first_events = Histogram(
            "inferless_time_to_first_event_seconds",
            "Seconds from a stream request's arrival to its first event written to the client.",
            ["model"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=None,
        )
        self.refused_busy = Counter(
            "inferless_refused_busy_total",
            "Requests refused with 429: the model's max_concurrency + queue_size were all taken.",
            ["model"],
            registry=None,
        )
        self._events_of: dict[str, Counter] = {}  # counted for every frame: looked up once

    def series(self) -> list[Counter | Histogram]:
        """Every series counted here."""
        return [self.requests, self.events, self.errors, self.first_events, self.refused_busy]

    def answered(self, model: str, status: int) -> None:
        """An inference request of ``model`` was answered ``status`` (its status line sent)."""
        self.requests.labels(model, str(status)).inc()
        if status == 429:
            self.refused_busy.labels(model).inc()

    def received(self, model: str, events: int) -> None:
        """A batch of ``events`` events of ``model`` arrived from its kernel."""
        counter = self._events_of.get(model)
        if counter is None:
            counter = self._events_of[model] = self.events.labels(model)
        counter.inc(events)

    def failed(self, model: str, kind: str) -> None:
        """An in-band error of ``kind`` (an ErrorKind value) was sent for ``model``."""
        self.errors.labels(model, kind).inc()

    def first_event(self, model: str, seconds: float) -> None:
        """A stream's first event was written, ``seconds`` after its request arrived."""
        self.first_events.labels(model).observe(seconds)


class MetricsCollector(Collector):
    """A server's series, and its active streams and queue depth per model read from its
    catalog, for a registry to scrape."""

    def __init__(self, metrics: Metrics, catalog: Catalog) -> None:
        self.metrics = metrics
        self.catalog = catalog
        self.registry: CollectorRegistry | None = None

    def describe(self) -> list[Metric]:
        """Every family this collector yields (names the registry checks for clashes)."""
        described = [family for series in self.metrics.series() for family in series.describe()]
        return described + self._gauges()

    def collect(self) -> Iterable[Metric]:
        """The series' samples now, then the gauges read from the catalog."""
        for series in self.metrics.series():
            yield from series.collect()
        active, queued = families = self._gauges()
        sums: dict[str, tuple[int, int]] = {}
        for entry in self.catalog.models():
            running, waiting = sums.get(entry.name, (0, 0))
            waiting += max(0, entry.active - entry.max_concurrency)
            sums[entry.name] = (running + entry.active, waiting)
        for model, (running, waiting) in sorted(sums.items()):
            active.add_metric([model], running)
            queued.add_metric([model], waiting)
        yield from families

    def register(self, registry: CollectorRegistry = REGISTRY) -> bool:
        """Be scraped from ``registry``; False, logged, when a collector of another server
        in this process already reports these series there."""
        try:
            registry.register(self)
        except ValueError as err:
            log.warning("the inferless metrics of this server are not reported: %s", err)
            return False
        self.registry = registry
        return True

    def unregister(self) -> None:
        """Leave the registry this collector was registered in, if any."""
        if self.registry is not None:
            self.registry.unregister(self)
            self.registry = None

    @staticmethod
    def _gauges() -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(name, doc, labels=["model"]) for name, doc in GAUGES]
