"""Prometheus metrics, on jupyter_server's own ``{base_url}metrics`` (its default REGISTRY).

Every series is defined here, once, at import; the hooks below are one call per event.
The gauges are read at scrape time from CATALOGS (the counters admission control keeps).
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Iterable
from typing import Any, Protocol

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .registry import ModelEntry

UNKNOWN_MODEL = "(unknown)"  # the label of a refusal naming no served model: bounded labels


class Catalog(Protocol):
    def models(self) -> list[ModelEntry]: ...  # the served models (``catalog.Catalog``)


def _once(cls: Any, name: str, doc: str, labels: list[str], **kwargs: Any) -> Any:
    """The metric, registered once per process even if this module is imported again."""
    try:
        return cls(name, doc, labels, **kwargs)
    except ValueError:  # already in the REGISTRY: reuse it
        return REGISTRY._names_to_collectors[name]


REQUESTS = _once(
    Counter,
    "inferless_requests_total",
    "Inference requests (generate_stream, infer, generate) by the HTTP status answered: "
    "200 once a stream starts or a one-shot answers; refusals 400, 404, 429, 503, ...",
    ["model", "code"],
)
EVENTS = _once(
    Counter,
    "inferless_stream_events_total",
    "Events received from the kernel for the model's requests (streamed and one-shot).",
    ["model"],
)
ERRORS = _once(
    Counter,
    "inferless_errors_total",
    "In-band errors, by ErrorKind: runs that ended with one, and readers evicted.",
    ["model", "kind"],
)
FIRST_EVENT = _once(
    Histogram,
    "inferless_time_to_first_event_seconds",
    "Seconds from a stream request's arrival to its first event written to the client.",
    ["model"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
REFUSED_BUSY = _once(
    Counter,
    "inferless_refused_busy_total",
    "Requests refused with 429: the model's max_concurrency + queue_size were all taken.",
    ["model"],
)


def answered(model: str, status: int) -> None:
    """An inference request of ``model`` was answered ``status`` (its status line sent)."""
    REQUESTS.labels(model, str(status)).inc()
    if status == 429:
        REFUSED_BUSY.labels(model).inc()


def received(model: str, events: int) -> None:
    """A batch of ``events`` events of ``model`` arrived from its kernel."""
    _events_of(model).inc(events)


@functools.lru_cache(maxsize=1024)
def _events_of(model: str) -> Any:
    """The model's events counter: looked up once, as it is counted for every frame."""
    return EVENTS.labels(model)


def failed(model: str, kind: str) -> None:
    """An in-band error of ``kind`` (an ErrorKind value) was sent for ``model``."""
    ERRORS.labels(model, kind).inc()


def first_event(model: str, seconds: float) -> None:
    """A stream's first event was written, ``seconds`` after its request arrived."""
    FIRST_EVENT.labels(model).observe(seconds)


CATALOGS: weakref.WeakSet[Catalog] = weakref.WeakSet()
"""The catalogs whose models the gauges report (each server's app adds its own)."""

GAUGES = (
    ("inferless_streams_active", "Requests started and not ended (running or queued)."),
    ("inferless_queue_depth", "Requests waiting in the kernel beyond max_concurrency."),
)


class _Gauges(Collector):
    """Active streams and queue depth per model, read at scrape time from CATALOGS."""

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(name, doc, labels=["model"]) for name, doc in GAUGES]

    def collect(self) -> Iterable[Metric]:
        active, queued = families = self.describe()
        sums: dict[str, tuple[int, int]] = {}
        for entry in (entry for catalog in list(CATALOGS) for entry in catalog.models()):
            running, waiting = sums.get(entry.name, (0, 0))
            waiting += max(0, entry.active - entry.max_concurrency)
            sums[entry.name] = (running + entry.active, waiting)
        for model, (running, waiting) in sorted(sums.items()):
            active.add_metric([model], running)
            queued.add_metric([model], waiting)
        return families


with contextlib.suppress(ValueError):  # registered by an earlier import of this module
    REGISTRY.register(_Gauges())
