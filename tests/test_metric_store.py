"""otel-llm's metric store against the OpenTelemetry SDK: the same measurements give the same points.

The lean path replaces the SDK's aggregation where otel-llm builds the pipeline, so its
correctness is proved differentially: every operation sequence is fed to SDK instruments
(read by an InMemoryMetricReader) and to the store (read through a reader slot), on one fake
clock, and every collection must be equal field for field (start and end times, counts, sums,
bucket counts and bounds, min/max, exemplars with their span and trace ids), in cumulative and
delta temporality. The store's own additions (idle expiry, series caps, gauges' freshness)
are tested after.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.metrics import Counter, Exemplar, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics._internal import _view_instrument_match, instrument, metric_reader_storage
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, Metric
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

from otel_llm._emit.instruments import DURATION_BUCKETS
from otel_llm._emit.series import Spec
from otel_llm._emit.store import MetricStore, sorted_key

HIST = Spec("h", "histogram", "s", "a histogram", tuple(float(b) for b in DURATION_BUCKETS))
COUNT = Spec("c", "counter", "{call}", "a counter")
UPDOWN = Spec("u", "updowncounter", "{request}", "an up-down counter")
ATTRS = ({"k": "a", "team": "t1"}, {"k": "b"}, {})


class Clock:
    """One fake clock for the SDK (patched) and the store: advances only between operations."""

    def __init__(self) -> None:
        self.now = 1_700_000_000_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    for module in (_view_instrument_match, instrument, metric_reader_storage):
        monkeypatch.setattr(module, "time_ns", fake)
    yield fake


class Pair:
    """The same instruments on the SDK and on the store."""

    def __init__(self, clock: Clock, temporality: AggregationTemporality) -> None:
        self.reader = InMemoryMetricReader(
            preferred_temporality={Counter: temporality, Histogram: temporality, UpDownCounter: temporality}
        )
        meter = MeterProvider(metric_readers=[self.reader]).get_meter("t")
        self.sdk_hist = meter.create_histogram(
            "h", unit="s", description="a histogram", explicit_bucket_boundaries_advisory=HIST.buckets
        )
        self.sdk_count = meter.create_counter("c", unit="{call}", description="a counter")
        self.sdk_updown = meter.create_up_down_counter("u", unit="{request}", description="an up-down counter")
        self.store = MetricStore(1e9, 10_000, 300.0, clock_ns=clock, mono=lambda: clock.now / 1e9)
        self.hist = self.store.instrument(HIST)
        self.count = self.store.instrument(COUNT)
        self.updown = self.store.instrument(UPDOWN)
        self.slot = self.store.add_reader("test")
        self.temporality = temporality
        tracer_provider = TracerProvider()
        self.sampled = tracer_provider.get_tracer("t")
        self.unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("t")
        assert tracer_provider.sampler is not ALWAYS_OFF and ALWAYS_ON

    def record(self, value: float, attrs: dict[str, str], span: str) -> None:
        tracer = self.sampled if span == "sampled" else self.unsampled
        if span == "none":
            self.sdk_hist.record(value, attrs)
            self.hist.record(value, sorted_key(attrs.items()))
            return
        with tracer.start_as_current_span("s") as current:
            context = trace.set_span_in_context(current)
            self.sdk_hist.record(value, attrs, context=context)
            self.hist.record(value, sorted_key(attrs.items()), context)

    def record_many(self, values: list[float], attrs: dict[str, str], span: str) -> None:
        """A stream's chunk intervals: one SDK record each, one ``record_many`` on the store."""
        tracer = self.sampled if span == "sampled" else self.unsampled
        if span == "none":
            for value in values:
                self.sdk_hist.record(value, attrs)
            self.hist.record_many(values, sorted_key(attrs.items()))
            return
        with tracer.start_as_current_span("s") as current:
            context = trace.set_span_in_context(current)
            for value in values:
                self.sdk_hist.record(value, attrs, context=context)
            self.hist.record_many(values, sorted_key(attrs.items()), context)

    def add(self, value: float, attrs: dict[str, str]) -> None:
        self.sdk_count.add(value, attrs)
        self.count.add(value, sorted_key(attrs.items()))

    def add_updown(self, value: float, attrs: dict[str, str]) -> None:
        self.sdk_updown.add(value, attrs)
        self.updown.add(value, sorted_key(attrs.items()))

    def collect(self) -> tuple[dict[str, Any], dict[str, Any]]:
        data = self.reader.get_metrics_data()
        sdk: list[Metric] = [] if data is None else list(data.resource_metrics[0].scope_metrics[0].metrics)
        ours = self.store.collect(self.slot, lambda kind: self.temporality, shared=False)
        return _normal(sdk), _normal(ours)


def _normal(metrics: list[Metric]) -> dict[str, Any]:
    """Metrics as comparable values: name → (kind fields, points sorted by attributes)."""
    result = {}
    for metric in metrics:
        points = []
        for point in metric.data.data_points:
            fields = {k: v for k, v in vars(point).items() if k not in ("attributes", "exemplars")}
            fields["attributes"] = sorted((point.attributes or {}).items())
            fields["exemplars"] = [vars(e) for e in point.exemplars]
            points.append(fields)
        extra = {k: v for k, v in vars(metric.data).items() if k != "data_points"}
        result[metric.name] = (metric.unit, metric.description, extra, sorted(points, key=lambda p: p["attributes"]))
    return result


VALUES = st.one_of(
    st.sampled_from([0.0, 0.01, 0.02, 81.92, 81.93, 5.12, -1.0, math.nan, math.inf, 1e9]),
    st.floats(min_value=0, max_value=200, allow_nan=False),
)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("record"), VALUES, st.integers(0, 2), st.sampled_from(["none", "sampled", "unsampled"])),
        st.tuples(
            st.just("many"), st.lists(VALUES, max_size=12), st.integers(0, 2), st.sampled_from(["none", "sampled"])
        ),
        st.tuples(st.just("add"), st.one_of(st.integers(-3, 50), VALUES), st.integers(0, 2), st.just("")),
        st.tuples(st.just("updown"), st.sampled_from([1, -1, 2.5, -0.5]), st.integers(0, 2), st.just("")),
        st.tuples(st.just("collect"), st.just(0.0), st.just(0), st.just("")),
        st.tuples(st.just("tick"), st.just(0.0), st.integers(1, 10**9), st.just("")),
    ),
    max_size=60,
)


@pytest.mark.parametrize(
    "temporality", [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA], ids=["cumulative", "delta"]
)
# The clock fixture is shared across examples on purpose: it only moves forward, and each example builds its own pair.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_the_store_collects_what_the_sdk_collects(
    clock: Clock, temporality: AggregationTemporality, operations: list[tuple[str, Any, int, str]]
) -> None:
    """Any sequence of records (one at a time and a call's worth at once), adds, clock ticks and
    collections: equal points at every collection, including refusals (negative, NaN, infinite),
    bucket edges and exemplars."""
    pair = Pair(clock, temporality)
    for operation, value, index, span in [*operations, ("collect", 0.0, 0, "")]:
        if operation == "record":
            pair.record(value, ATTRS[index], span)
        elif operation == "many":
            pair.record_many(value, ATTRS[index], span)
        elif operation == "add":
            pair.add(value, ATTRS[index])
        elif operation == "updown":
            pair.add_updown(value, ATTRS[index])
        elif operation == "tick":
            clock.now += index
        else:
            sdk, ours = pair.collect()
            assert ours == sdk


def test_a_histogram_point_field_by_field(clock: Clock) -> None:
    """A worked example: bucket edges go to the lower bucket (bisect_left), min/max/sum kept, the exemplar
    is the last sampled measurement of its bucket with its span's ids."""
    pair = Pair(clock, AggregationTemporality.CUMULATIVE)
    pair.record(0.01, ATTRS[0], "sampled")
    pair.record(0.5, ATTRS[0], "none")
    pair.record(0.02, ATTRS[0], "sampled")
    sdk, ours = pair.collect()
    assert ours == sdk
    (point,) = ours["h"][3]
    assert point["count"] == 3 and point["bucket_counts"][:3] == (1, 1, 0) and point["min"] == 0.01
    assert len(point["exemplars"]) == 2 and all(e["trace_id"] for e in point["exemplars"])


def test_every_reader_collects_the_sdks_points_and_exemplars(clock: Clock) -> None:
    """Two readers of one store (the proxy's OTLP and Prometheus readers): each collects what the SDK's
    reader does, exemplars included (a measurement's exemplar is made once and shared by both)."""
    pair = Pair(clock, AggregationTemporality.CUMULATIVE)
    second = pair.store.add_reader("second")
    for value, span in ((0.01, "sampled"), (0.5, "none"), (0.02, "sampled"), (3.0, "sampled")):
        pair.record(value, ATTRS[0], span)
    pair.record_many([0.03, 4.0], ATTRS[1], "sampled")
    sdk, ours = pair.collect()
    again = _normal(pair.store.collect(second, lambda kind: pair.temporality, shared=False))
    assert ours == sdk and again == sdk
    assert sum(len(point["exemplars"]) for point in again["h"][3]) == 5


def test_kept_exemplars_are_atoms_the_garbage_collector_untracks(clock: Clock) -> None:
    """A bucket's exemplar waits for its next measurement or the next collection: it is kept as an
    exact tuple of atoms (untracked at the first young collection, never promoted with the host's
    state) and made the SDK's Exemplar only when collected."""
    store = MetricStore(1e9, 10_000, 300.0, clock_ns=clock, mono=lambda: clock.now / 1e9)
    hist = store.instrument(HIST)
    slot = store.add_reader("test")
    with TracerProvider().get_tracer("t").start_as_current_span("s") as span:
        context = trace.set_span_in_context(span)
        hist.record(0.01, sorted_key(ATTRS[0].items()), context)
        hist.record_many([0.03, 4.0], sorted_key(ATTRS[1].items()), context)
    gc.collect(0)
    kept = [e for series in hist._series.values() for e in series.intervals[0].exemplars or () if e is not None]
    assert len(kept) == 3 and not any(gc.is_tracked(e) for e in kept)
    points = [
        p
        for m in store.collect(slot, lambda kind: AggregationTemporality.CUMULATIVE, False)
        for p in m.data.data_points
    ]
    exemplars = [e for p in points for e in p.exemplars]
    assert [type(e) for e in exemplars] == [Exemplar] * 3
    assert {e.span_id for e in exemplars} == {span.get_span_context().span_id}


def test_series_keep_only_what_their_readers_collect() -> None:
    """Series live as long as their tenants: a counter's series and its reader's interval are three
    objects the garbage collector walks at every full collection (no bucket lists), a histogram's
    four (its interval's bucket counts); what a cumulative reader carries between collections is
    atoms, untracked."""
    store = MetricStore(1e9, 10_000, 300.0)
    count, hist = store.instrument(COUNT), store.instrument(HIST)
    slot = store.add_reader("test")
    keys = [sorted_key({"k": f"key-{i}"}.items()) for i in range(100)]
    gc.collect()
    before = len(gc.get_objects())
    for key in keys:
        count.add(1, key)
        hist.record(0.1, key)
    assert len(store.collect(slot, lambda kind: AggregationTemporality.CUMULATIVE, False)) == 2
    gc.collect()
    # 1,300 when a series kept its own totals and empty bucket lists; room for other threads' objects.
    assert len(gc.get_objects()) - before <= 100 * (3 + 4) + 100


class IdleStore:
    def __init__(self, idle_s: float = 60.0, limit: int = 10_000) -> None:
        self.mono = 0.0
        self.store = MetricStore(idle_s, limit, 30.0, clock_ns=lambda: int(self.mono * 1e9) + 1, mono=lambda: self.mono)
        self.count = self.store.instrument(COUNT)
        self.slot = self.store.add_reader("test")

    def collect(self) -> dict[str, float]:
        (metric,) = self.store.collect(self.slot, lambda kind: AggregationTemporality.CUMULATIVE, False) or [None]
        if metric is None:
            return {}
        return {str(p.attributes.get("k")): p.value for p in metric.data.data_points}


def test_an_idle_series_is_exported_with_its_last_value_then_forgotten() -> None:
    """Past the idle timeout a series stops being exported (after its last value went out), and its slot
    is free; a series in use keeps going."""
    s = IdleStore(idle_s=60.0)
    s.count.add(1, sorted_key({"k": "old"}.items()))
    s.count.add(1, sorted_key({"k": "busy"}.items()))
    assert s.collect() == {"old": 1, "busy": 1}
    for _ in range(3):
        s.mono += 30
        s.count.add(1, sorted_key({"k": "busy"}.items()))
        s.collect()
    assert s.collect() == {"busy": 4}
    assert len(s.count) == 1


def test_a_series_updated_just_before_it_would_expire_is_exported_first() -> None:
    """A point recorded after the last collection is never lost to expiry: the series waits for a reader."""
    s = IdleStore(idle_s=60.0)
    s.count.add(1, sorted_key({"k": "late"}.items()))
    s.mono += 120  # no collection in between: idle by the clock, but not yet exported
    assert s.collect() == {"late": 1}
    s.mono += 1
    assert s.collect() == {}


def test_past_the_series_limit_new_series_overflow_counted_and_summed() -> None:
    """Past the cap a new series goes to the overflow series (unbounded attributes _OTHER), its value is
    kept (totals stay right) and each such point is counted."""
    s = IdleStore(limit=2)
    overflowed: list[str] = []
    s.store.on_overflow(overflowed.append)
    for key in ("a", "b", "c", "d"):
        s.count.add(1, sorted_key({"k": key}.items()))
    assert s.collect() == {"a": 1, "b": 1, "_OTHER": 2}
    assert overflowed == ["c", "c"]  # the counter's name, once per point past the cap


def test_gauges_past_the_limit_are_refused_not_folded() -> None:
    """A gauge's last value under _OTHER would be a stranger's: past the cap a new gauge series is refused
    (and counted); existing ones keep updating."""
    s = IdleStore(limit=1)
    gauge = s.store.instrument(Spec("g", "gauge", "1", "a gauge"))
    overflowed: list[str] = []
    s.store.on_overflow(overflowed.append)
    gauge.set(0.5, sorted_key({"k": "a"}.items()))
    gauge.set(0.9, sorted_key({"k": "b"}.items()))
    gauge.set(0.7, sorted_key({"k": "a"}.items()))
    assert gauge.series() == [({"k": "a"}, 0.7)]
    assert overflowed == ["g"]


def test_fork_child_starts_empty() -> None:
    """A forked worker's store starts empty: the parent's counts are exported by the parent."""
    s = IdleStore()
    s.count.add(3, sorted_key({"k": "x"}.items()))
    s.store._after_fork()
    assert s.collect() == {}
