"""otel-llm's own metric aggregation: bounded, expiring series, exported through readers it builds.

The OpenTelemetry Python SDK keeps every cumulative series it has seen for the life of the
process and charges 16–23 µs per histogram point (attribute cleaning and hashing). Where
otel-llm builds the pipeline (the proxy's, the demo's), its instruments aggregate here
instead: one dict lookup and a few list updates per point, keyed by the attribute tuple the
emitter already built. Readers otel-llm builds (``_export/readers.py``) merge the series
into each collection, with the temporality their exporter prefers.

Semantics are the SDK's, point for point (tests/test_metric_store.py compares the two):
explicit-bucket histograms with ``bisect_left`` bucketing, min/max and sum; monotonic sums;
last-value gauges; cumulative and delta temporality; exemplars per the trace-based filter
(one per histogram bucket, the last seen, per collection). What the SDK does not do:

* A series not updated for ``idle_timeout_s`` is forgotten once every reader has collected
  its last value: its slot is free, and it is no longer exported. (Should it come back, it
  starts again from zero with a new start time: a counter reset, as after a restart.)
* Gauges report only while fresh (``ttl_s`` after their last update).
* Each instrument holds at most ``series_limit`` series; a point for a new series past it
  goes to the instrument's overflow series (its unbounded attributes as ``_OTHER``) and is
  counted by the ``on_overflow`` callback, so totals stay right and the loss is visible.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics.export import AggregationTemporality, HistogramDataPoint, Metric, NumberDataPoint

from .._names import OVERFLOW_VALUE
from .points import data_point, metric_of
from .series import (
    CUMULATIVE,
    AttrKey,
    ExemplarFilter,
    Kind,
    Scope,
    Spec,
    _Interval,
    _Series,
    fold,
)

_NO_SPAN: Final = (None, None)


def _span_of(context: Context | None) -> tuple[int | None, int | None] | None:
    """(span id, trace id) of the span current in ``context``, when it is valid and sampled."""
    span_context = trace.get_current_span(context).get_span_context()
    if span_context.is_valid and span_context.trace_flags.sampled:
        return span_context.span_id, span_context.trace_id
    return None


class Instrument:
    """One instrument's series; ``add``/``record``/``set`` take the attribute tuple (sorted items)."""

    def __init__(self, store: MetricStore, spec: Spec) -> None:
        self.spec = spec
        self._store = store
        self._series: dict[AttrKey, _Series] = {}
        self._lock = threading.Lock()
        self._bounds = spec.buckets
        self._buckets = len(spec.buckets) + 1 if spec.kind == "histogram" else 0

    def __len__(self) -> int:
        return len(self._series)

    def _get(self, key: AttrKey) -> _Series | None:
        """The series of ``key`` (caller holds the lock), created or redirected to overflow; None for a
        gauge past the limit (a last value on _OTHER would be a stranger's)."""
        series = self._series.get(key)
        if series is not None:
            return series
        store = self._store
        if len(self._series) >= store.series_limit:
            store.count_overflow(self.spec.name)
            if self.spec.kind == "gauge":
                return None
            bounded = self.spec.bounded
            key = tuple((k, v if k in bounded else OVERFLOW_VALUE) for k, v in key)
            series = self._series.get(key)
            if series is not None:
                return series
        series = _Series(dict(key), self._buckets, store.now_ns(), len(store.readers), store.mono())
        self._series[key] = series
        return series

    def add(self, value: float, key: AttrKey, context: Context | None = None) -> None:
        """Counters: add a non-negative amount (negative and non-finite amounts are refused, as by the
        SDK); up-down counters: add any finite amount."""
        refused = not math.isfinite(value) if self.spec.kind == "updowncounter" else not 0 <= value < math.inf
        if refused:
            return
        with self._lock:
            series = self._get(key)
            if series is None:  # only gauges are refused
                return
            series.sum += value
            series.last_mono = self._store.mono()
            for interval in series.intervals:
                interval.sum += value
                interval.touched = True

    def record(self, value: float, key: AttrKey, context: Context | None = None) -> None:
        """Histograms: record one measurement (negative and non-finite ones are refused, as by the SDK)."""
        if not value >= 0 or value == math.inf:
            return
        index = bisect_left(self._bounds, value)
        sampled = self._store.sample(context)
        with self._lock:
            series = self._get(key)
            if series is None:  # only gauges are refused
                return
            series.last_mono = self._store.mono()
            # One exemplar shared by every reader's interval, as atoms (series.ExemplarAtoms).
            exemplar = None
            if sampled is not None and series.intervals:
                exemplar = (bool(series.attrs), value, self._store.now_ns(), *sampled)
            for interval in series.intervals:
                interval.touched = True
                interval.sum += value
                interval.count += 1
                interval.counts[index] += 1
                interval.min = min(interval.min, value)
                interval.max = max(interval.max, value)
                if exemplar is not None:
                    if interval.exemplars is None:
                        interval.exemplars = [None] * self._buckets
                    interval.exemplars[index] = exemplar

    def record_many(self, values: Sequence[float], key: AttrKey, context: Context | None = None) -> None:
        """Histograms: ``record`` of each value in order, with the series found, the lock taken and
        the exemplar filter asked once (a stream's chunk intervals: up to 4,096 values per call,
        ~5 µs each through ``record`` inside the proxy)."""
        accepted = [(value, bisect_left(self._bounds, value)) for value in values if value >= 0 and value != math.inf]
        if not accepted:
            return
        sampled = self._store.sample(context)
        with self._lock:
            series = self._get(key)
            if series is None:  # only gauges are refused
                return
            series.last_mono = self._store.mono()
            for interval in series.intervals:
                interval.touched = True
                fold(interval, accepted)
            if sampled is None or not series.intervals:
                return
            # Each bucket's exemplar is its last measurement (record's would replace the earlier ones),
            # made once and shared by every reader's interval, as atoms (series.ExemplarAtoms).
            last = {index: value for value, index in accepted}
            with_attributes = bool(series.attrs)
            now = self._store.now_ns()
            exemplars = [(index, (with_attributes, value, now, *sampled)) for index, value in last.items()]
            for interval in series.intervals:
                if interval.exemplars is None:
                    interval.exemplars = [None] * self._buckets
                for index, exemplar in exemplars:
                    interval.exemplars[index] = exemplar

    def set(self, value: float, key: AttrKey, context: Context | None = None) -> None:
        """Gauges: the latest value (non-finite values are refused)."""
        if not math.isfinite(value):
            return
        with self._lock:
            series = self._get(key)
            if series is None:
                return
            series.sum = float(value)  # gauges are doubles, whatever the source's type
            series.last_mono = self._store.mono()
            for interval in series.intervals:
                interval.touched = True

    def series(self) -> list[tuple[dict[str, object], float]]:
        """(attributes, value) of each live series: counter totals, fresh gauge values; series idle
        past their time are forgotten (the store read without readers: observable instruments)."""
        store = self._store
        idle_s = store.gauge_ttl(self.spec) if self.spec.kind == "gauge" else store.idle_timeout_s
        now = store.mono()
        with self._lock:
            if not self._store.readers:
                for key in [k for k, s in self._series.items() if now - s.last_mono > idle_s]:
                    del self._series[key]
            return [(dict(s.attrs), s.sum) for s in self._series.values() if now - s.last_mono <= idle_s]

    def forget(self, key: AttrKey) -> None:
        """Drop one series now (a gauge whose subject is gone)."""
        with self._lock:
            self._series.pop(key, None)

    def collect(self, reader: int, temporality: AggregationTemporality, now_ns: int) -> Metric | None:
        """This reader's points, and forget the series every reader has seen idle past the timeout."""
        spec, store = self.spec, self._store
        points: list[NumberDataPoint | HistogramDataPoint] = []
        now_mono = store.mono()
        idle_s = store.gauge_ttl(spec) if spec.kind == "gauge" else store.idle_timeout_s
        with self._lock:
            cumulative = temporality is CUMULATIVE
            for key, series in list(self._series.items()):
                interval = series.intervals[reader]
                fresh = now_mono - series.last_mono <= idle_s
                # Nothing recorded since this reader's last collection (most series of a gateway with
                # many keys): a cumulative reader's carry stands and a delta reader's interval only
                # moves its start, instead of a new interval per series per collection.
                unchanged = not interval.touched and (interval.carry is not None or not cumulative)
                carry = interval.carry if unchanged else interval.cumulative() if cumulative else None
                point = data_point(spec, series, interval, temporality, now_ns, fresh, carry)
                if point is not None:
                    points.append(point)
                # The next interval starts now, for this reader.
                if unchanged:
                    interval.start_ns = now_ns
                else:
                    series.intervals[reader] = _Interval(self._buckets, now_ns, carry)
                if not fresh and not any(i.touched for i in series.intervals):
                    del self._series[key]
        return metric_of(spec, points, temporality)

    def _add_reader(self) -> None:
        with self._lock:
            now = self._store.now_ns()
            for series in self._series.values():
                series.intervals.append(_Interval(self._buckets, now))

    def _clear(self) -> None:
        with self._lock:
            self._series.clear()


class MetricStore:
    """otel-llm's instruments, aggregated in process; readers otel-llm builds collect them."""

    def __init__(
        self,
        idle_timeout_s: float,
        series_limit: int,
        ttl_s: float,
        exemplar_filter: ExemplarFilter = "trace_based",
        clock_ns: Callable[[], int] = time.time_ns,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.series_limit = series_limit
        self.ttl_s = ttl_s
        self.exemplar_filter = exemplar_filter
        self._last_sample: tuple[Context | None, tuple[int | None, int | None] | None] = (None, None)
        self.now_ns = clock_ns
        self.mono = mono
        self.readers: list[str] = []
        self._instruments: dict[str, Instrument] = {}
        self._lock = threading.Lock()
        self._overflow: Callable[[str], None] | None = None
        _STORES.add(self)

    def instrument(self, spec: Spec) -> Instrument:
        """The instrument named ``spec.name``, created once."""
        with self._lock:
            instrument = self._instruments.get(spec.name)
            if instrument is None:
                instrument = self._instruments[spec.name] = Instrument(self, spec)
            return instrument

    def instruments(self) -> list[Instrument]:
        with self._lock:
            return list(self._instruments.values())

    def add_reader(self, name: str) -> int:
        """A reader's slot: each reader collects its own intervals (deltas, exemplars)."""
        with self._lock:
            self.readers.append(name)
            instruments = list(self._instruments.values())
        for instrument in instruments:
            instrument._add_reader()  # noqa: SLF001  # the store's own instruments
        return len(self.readers) - 1

    def on_overflow(self, callback: Callable[[str], None]) -> None:
        """Told the metric name of each point a series limit sent to the overflow series."""
        self._overflow = callback

    def count_overflow(self, metric: str) -> None:
        callback = self._overflow
        if callback is not None:
            callback(metric)

    def gauge_ttl(self, spec: Spec) -> float:
        return self.ttl_s if spec.ttl_s is None else min(spec.ttl_s, self.ttl_s)

    def sample(self, context: Context | None) -> tuple[int | None, int | None] | None:
        """(span id, trace id) when the exemplar filter keeps a measurement made in ``context``
        (the SDK's filters: trace_based keeps those made in a sampled span), else None."""
        if self.exemplar_filter == "always_off":
            return None
        # One call's points share its context: the span is looked up once for them all (a
        # context is immutable, so the pair read together is always right).
        last = self._last_sample
        if context is not None and last[0] is context:
            span = last[1]
        else:
            span = _span_of(context)
            if context is not None:
                self._last_sample = (context, span)
        if span is None and self.exemplar_filter == "always_on":
            return _NO_SPAN
        return span

    def scopes(self) -> set[Scope | None]:
        """The instrumentation scopes of the store's instruments (None: otel-llm's own)."""
        return {instrument.spec.scope for instrument in self.instruments()}

    def collect(
        self,
        reader: int,
        temporality: Callable[[Kind], AggregationTemporality],
        shared: bool,
        scope: Scope | None = None,
    ) -> list[Metric]:
        """The metrics of one reader's collection (shared or process series, of one scope), at one instant."""
        now_ns = self.now_ns()
        metrics = []
        for instrument in self.instruments():
            if instrument.spec.shared is not shared or instrument.spec.scope != scope:
                continue
            metric = instrument.collect(reader, temporality(instrument.spec.kind), now_ns)
            if metric is not None:
                metrics.append(metric)
        return metrics

    def _after_fork(self) -> None:
        # A forked worker's counts are its own: the parent's belong to the parent's exports.
        self._lock = threading.Lock()
        for instrument in self._instruments.values():
            instrument._lock = threading.Lock()  # noqa: SLF001
            instrument._clear()  # noqa: SLF001


# Every store, held weakly, emptied in a forked child by one hook (a hook per store would keep
# each store alive for the life of the process: os.register_at_fork cannot be undone).
_STORES: Final[weakref.WeakSet[MetricStore]] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._after_fork()  # noqa: SLF001  # the module's own stores


os.register_at_fork(after_in_child=_after_fork_in_child)


def sorted_key(attributes: Iterable[tuple[str, object]]) -> AttrKey:
    """The attribute tuple the store keys series by."""
    return tuple(sorted(attributes))


def bounded_keys(specs: Sequence[Spec]) -> frozenset[str]:
    return frozenset().union(*(s.bounded for s in specs))
