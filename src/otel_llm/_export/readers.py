"""Metric readers that export otel-llm's own metric store with each collection (the lean path).

``MetricReader._receive_metrics`` is the SDK's override point for what a reader does with a
collection: these readers add the store's series (as the ``otel_llm`` scope's metrics) to what
the SDK collected, with the temporality the reader's exporter asked for, then export as usual.
The shared reader (gauges that describe a key or team, not a process) has no SDK provider at
all: its collection is the store's alone, under a resource without ``service.instance.id``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final

from opentelemetry.sdk.metrics import Counter, Histogram, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Metric,
    MetricExporter,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from .. import _errors
from .._emit.series import ExemplarFilter, Kind, Scope
from .._emit.store import MetricStore
from .._emit.telemetry import SCHEMA_URL, SCOPE
from .._version import __version__
from . import sdk_internals

_SCOPE: Final = InstrumentationScope(SCOPE, __version__, SCHEMA_URL)


def _temporality_of(reader: MetricReader) -> Callable[[Kind], AggregationTemporality]:
    """The temporality ``reader``'s exporter asked for, by instrument kind (gauges have none)."""
    table: dict[type, AggregationTemporality] = sdk_internals.reader_temporality(reader)
    cumulative = AggregationTemporality.CUMULATIVE
    by_kind: dict[Kind, AggregationTemporality] = {
        "counter": next((t for cls, t in table.items() if issubclass(cls, Counter)), cumulative),
        "updowncounter": next((t for cls, t in table.items() if issubclass(cls, UpDownCounter)), cumulative),
        "histogram": next((t for cls, t in table.items() if issubclass(cls, Histogram)), cumulative),
    }

    def temporality(kind: Kind) -> AggregationTemporality:
        return by_kind.get(kind, cumulative)

    return temporality


Scoped = list[tuple[InstrumentationScope, list[Metric]]]


def _scope_of(scope: Scope | None) -> InstrumentationScope:
    return _SCOPE if scope is None else InstrumentationScope(scope[0], scope[1], scope[2])


def merge(data: MetricsData | None, scoped: Scoped, resource: Resource | None = None) -> MetricsData | None:
    """``data`` with each scope's metrics added to that scope's metrics of its (first) resource."""
    scoped = [(scope, metrics) for scope, metrics in scoped if metrics]
    if not scoped:
        return data
    if data is None or not data.resource_metrics:
        if resource is None:
            return data
        return MetricsData([ResourceMetrics(resource, [ScopeMetrics(s, m, s.schema_url or "") for s, m in scoped], "")])
    first, *rest = data.resource_metrics
    scopes = list(first.scope_metrics)
    for scope, metrics in scoped:
        for index, scope_metrics in enumerate(scopes):
            if scope_metrics.scope.name == scope.name and scope_metrics.scope.version == scope.version:
                scopes[index] = ScopeMetrics(
                    scope_metrics.scope, [*scope_metrics.metrics, *metrics], scope_metrics.schema_url
                )
                break
        else:
            scopes.append(ScopeMetrics(scope, metrics, scope.schema_url or ""))
    return MetricsData([ResourceMetrics(first.resource, scopes, first.schema_url), *rest])


class _StoreSource:
    """A reader's slot in the store and the partitions (process, shared) it exports."""

    def __init__(self, reader: MetricReader, store: MetricStore, partitions: tuple[bool, ...]) -> None:
        self.store = store
        self.slot = store.add_reader(type(reader).__name__)
        self.partitions = partitions
        self.temporality = _temporality_of(reader)

    def collect(self) -> Scoped:
        scoped: Scoped = []
        with _errors.boundary("export.metric_store"):
            for scope in sorted(self.store.scopes(), key=lambda s: s or ("",)):
                metrics = [
                    metric
                    for shared in self.partitions
                    for metric in self.store.collect(self.slot, self.temporality, shared, scope)
                ]
                scoped.append((_scope_of(scope), metrics))
        return scoped


class StorePeriodicReader(PeriodicExportingMetricReader):
    """``PeriodicExportingMetricReader`` that adds otel-llm's metric store to each collection."""

    def __init__(
        self, exporter: MetricExporter, store: MetricStore, partitions: tuple[bool, ...] = (False,), **kwargs: Any
    ) -> None:
        super().__init__(exporter, **kwargs)
        self._source = _StoreSource(self, store, partitions)

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        merged = merge(metrics_data, self._source.collect())
        if merged is not None:
            super()._receive_metrics(merged, timeout_millis=timeout_millis, **kwargs)


class SharedStoreReader(PeriodicExportingMetricReader):
    """Exports the store's shared series (a key's budget, not a worker's) under ``resource``, with no
    SDK provider behind it: nothing else is collected, so nothing else is kept per series."""

    def __init__(self, exporter: MetricExporter, store: MetricStore, resource: Resource, **kwargs: Any) -> None:
        super().__init__(exporter, **kwargs)
        self._source = _StoreSource(self, store, (True,))
        self._resource = resource
        sdk_internals.set_collect(self, self._collect_store)

    def _collect_store(self, reader: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
        return merge(None, self._source.collect(), self._resource)


def prometheus_reader(store: MetricStore) -> MetricReader:
    """The Prometheus reader (one worker), serving the store's process and shared series with the SDK's."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415

    class StorePrometheusReader(PrometheusMetricReader):
        def __init__(self) -> None:
            super().__init__()
            self._source = _StoreSource(self, store, (False, True))

        def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
            merged = merge(metrics_data, self._source.collect())
            if merged is not None:
                super()._receive_metrics(merged, timeout_millis=timeout_millis, **kwargs)

    return StorePrometheusReader()


def exemplar_filter() -> ExemplarFilter:
    """The SDK's OTEL_METRICS_EXEMPLAR_FILTER, as the store takes it (trace_based by default)."""
    raw = os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER", "").strip().lower()
    if raw == "always_on":
        return "always_on"
    if raw == "always_off":
        return "always_off"
    return "trace_based"
