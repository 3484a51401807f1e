"""otel-llm's metric wire encoder against the SDK's: the same MetricsData gives the same bytes.

Every shape the SDK and otel-llm's metric store collect (counters, up-down counters, histograms
with and without exemplars, gauges, both temporalities, every attribute value type, empty
attribute sets, several resources and scopes) is encoded by both and compared byte for byte;
what the wire encoder leaves to the SDK raises Unsupported; the exporter sends the SDK's bytes
over real HTTP to a local OTLP receiver, and falls back to the SDK's export where it must.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import Counter, Exemplar, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.metrics.export import (
    Histogram as HistogramData,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_llm._emit.instruments import DURATION_BUCKETS
from otel_llm._emit.series import Spec
from otel_llm._emit.store import MetricStore, sorted_key
from otel_llm._export import metric_wire
from otel_llm._export.metric_exporter import WireMetricExporter
from otel_llm._export.span_wire import Unsupported
from tests.encoder_bugs import encoder_bug
from tests.otlp_receiver import OtlpReceiver

RESOURCE = Resource.create({"service.name": "gateway", "service.instance.id": "w-1", "deployment.environment": "t"})
ATTRIBUTE_SETS: list[dict[str, Any]] = [
    {},
    {"otel_llm.key.alias": "key-1", "gen_ai.request.model": "gpt-main", "otel_llm.team.id": "t1"},
    {"s": "ünïcode ✓", "i": -7, "big": 2**40, "f": 0.25, "b": True, "no": False, "zero": 0},
    {"strs": ["a", "b"], "ints": [1, -2], "floats": [0.5], "bools": [True, False], "empty": []},
    {"long": "x" * 300, "": "empty key"},
]


def sdk_bytes(data: MetricsData) -> bytes:
    return encode_metrics(data).SerializeToString()  # type: ignore[no-any-return]


def _sdk_collection(temporality: AggregationTemporality, exponential: bool = False) -> MetricsData:
    reader = InMemoryMetricReader(
        preferred_temporality={Counter: temporality, Histogram: temporality, UpDownCounter: temporality}
    )
    views = [View(instrument_name="exp", aggregation=ExponentialBucketHistogramAggregation())] if exponential else []
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE, views=views)
    meter = provider.get_meter("otel_llm", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.37.0")
    other = provider.get_meter("fastapi", "0.165.0")
    counter = meter.create_counter("otel_llm.requests", unit="{request}", description="Requests.")
    floats = meter.create_counter("otel_llm.spend", unit="USD")
    updown = other.create_up_down_counter("http.server.active_requests", unit="{request}")
    hist = meter.create_histogram(
        "gen_ai.client.operation.duration", unit="s", explicit_bucket_boundaries_advisory=DURATION_BUCKETS
    )
    gauge = meter.create_gauge("otel_llm.key.budget.remaining", unit="USD")

    def observe(options: CallbackOptions) -> list[Observation]:
        return [Observation(3, {"k": "a"}), Observation(-1.5, {"k": "b"})]

    meter.create_observable_gauge("otel_llm.build.info", callbacks=[observe])
    rng = random.Random(7)
    tracer = TracerProvider().get_tracer("t")
    for attrs in ATTRIBUTE_SETS:
        counter.add(rng.randint(1, 100), attrs)
        floats.add(rng.random(), attrs)
        updown.add(rng.randint(-3, 3), attrs)
        gauge.set(rng.random() * 10, attrs)
        with tracer.start_as_current_span("attempt"):  # a sampled span: exemplars with its ids
            for _ in range(5):
                hist.record(rng.expovariate(2.0), attrs)
        hist.record(0.0, attrs)  # no span: an exemplar without ids, or none
    if exponential:
        meter.create_histogram("exp").record(1.5, {"k": "a"})
    data = reader.get_metrics_data()
    assert data is not None
    return data


@pytest.mark.parametrize("temporality", [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA])
def test_what_the_sdk_collects_encodes_to_the_sdk_bytes(temporality: AggregationTemporality) -> None:
    data = _sdk_collection(temporality)
    assert metric_wire.count_points(data) == 27  # 5 attribute sets x 5 instruments, 2 observations
    assert metric_wire.encode_metrics(data) == sdk_bytes(data)


def _store_collection(temporality: AggregationTemporality, collections: int) -> MetricsData:
    store = MetricStore(1e9, 10_000, 300.0)
    hist = store.instrument(Spec("h", "histogram", "s", "a histogram", tuple(float(b) for b in DURATION_BUCKETS)))
    count = store.instrument(Spec("c", "counter", "{call}", "a counter"))
    updown = store.instrument(Spec("u", "updowncounter", "{request}", ""))
    slot = store.add_reader("test")
    rng = random.Random(11)
    tracer = TracerProvider().get_tracer("t")
    metrics: list[Metric] = []
    for _ in range(collections):
        for attrs in ATTRIBUTE_SETS[:3]:
            key = sorted_key(attrs.items())
            with tracer.start_as_current_span("attempt") as span:
                context = trace.set_span_in_context(span)
                hist.record(rng.expovariate(1.0), key, context)
                hist.record_many([rng.random() for _ in range(4)], key, context)
            count.add(rng.randint(0, 5), key)
            count.add(rng.random(), key)
            updown.add(rng.randint(-2, 2), key)
        metrics = store.collect(slot, lambda kind: temporality, shared=False)
    scope = InstrumentationScope("otel_llm", "1.2.3", "https://opentelemetry.io/schemas/1.37.0")
    return MetricsData([ResourceMetrics(RESOURCE, [ScopeMetrics(scope, metrics, scope.schema_url)], "")])


@pytest.mark.parametrize("temporality", [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA])
def test_what_the_metric_store_collects_encodes_to_the_sdk_bytes(temporality: AggregationTemporality) -> None:
    data = _store_collection(temporality, collections=3)
    assert metric_wire.count_points(data) == 9
    assert metric_wire.encode_metrics(data) == sdk_bytes(data)


def test_several_resources_and_scopes_and_metrics_without_points_encode_to_the_sdk_bytes() -> None:
    first = _sdk_collection(AggregationTemporality.CUMULATIVE).resource_metrics[0]
    empty = Metric("nothing", "", "1", Sum([], AggregationTemporality.CUMULATIVE, True))
    exemplars = [
        Exemplar(None, 3, 1_700_000_000_000_000_000, None, None),  # no span: no ids
        Exemplar({"filtered": "yes", "n": 2}, 0.5, 0, 0xABC, 0x1234),
    ]
    with_exemplars = Metric(
        "hand.built", "d", "", Sum([NumberDataPoint({}, 0, 5, 2.5, exemplars)], AggregationTemporality.DELTA, False)
    )
    scopes = [*first.scope_metrics, ScopeMetrics(InstrumentationScope("bare"), [empty, with_exemplars], "")]
    other = Resource({"service.name": "other"}, schema_url="https://example.com/schema")
    data = MetricsData(
        [ResourceMetrics(RESOURCE, scopes, ""), ResourceMetrics(other, list(first.scope_metrics), "ignored")]
    )
    assert metric_wire.encode_metrics(data) == sdk_bytes(data)


_attribute_values = (
    st.text(max_size=12)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.lists(st.text(max_size=4), max_size=3)
    | st.lists(st.integers(min_value=-5, max_value=5), max_size=3)
)
_attribute_sets = st.dictionaries(st.text(min_size=1, max_size=8), _attribute_values, max_size=4)
_times = st.integers(min_value=0, max_value=2**64 - 1)
_numbers = (
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.integers(min_value=-(2**70), max_value=2**70)
)
_exemplars = st.builds(
    Exemplar,
    st.none() | _attribute_sets,
    _numbers,
    _times,
    st.none() | st.integers(min_value=1, max_value=2**64 - 1),
    st.none() | st.integers(min_value=1, max_value=2**128 - 1),
)
_temporalities = st.sampled_from(list(AggregationTemporality))


@st.composite
def _histogram_points(draw: st.DrawFn) -> HistogramDataPoint:
    bounds = draw(st.lists(st.floats(allow_nan=False), max_size=5))
    counts = draw(
        st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=len(bounds) + 1, max_size=len(bounds) + 1)
    )
    return HistogramDataPoint(
        draw(_attribute_sets),
        draw(_times),
        draw(_times),
        draw(st.integers(min_value=0, max_value=2**64 - 1)),
        draw(st.floats(allow_nan=False)),
        tuple(counts),
        tuple(bounds),
        draw(st.none() | st.floats(allow_nan=False)),
        draw(st.none() | st.floats(allow_nan=False)),
        draw(st.lists(_exemplars, max_size=2)),
    )


_number_points = st.builds(NumberDataPoint, _attribute_sets, _times, _times, _numbers, st.lists(_exemplars, max_size=2))
_metric_data = (
    st.builds(Sum, st.lists(_number_points, max_size=3), _temporalities, st.booleans())
    | st.builds(Gauge, st.lists(_number_points, max_size=3))
    | st.builds(HistogramData, st.lists(_histogram_points(), max_size=3), _temporalities)
)
_metrics = st.builds(Metric, st.text(max_size=10), st.text(max_size=10), st.text(max_size=5), _metric_data)


def _beyond_int64(value: Any) -> bool:
    """Whether ``value`` (a point, an exemplar, attributes, a value) holds an integer beyond int64."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not -(2**63) <= value < 2**63
    if isinstance(value, (list, tuple)):
        return any(_beyond_int64(item) for item in value)
    if isinstance(value, dict):
        return any(_beyond_int64(item) for item in value.values())
    if isinstance(value, (NumberDataPoint, HistogramDataPoint, Exemplar)):
        fields = ("attributes", "filtered_attributes", "value", "exemplars")
        return any(_beyond_int64(getattr(value, name, None)) for name in fields)
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(metrics=st.lists(_metrics, min_size=1, max_size=4), scope_name=st.text(max_size=8))
def test_any_sum_gauge_or_histogram_encodes_to_the_sdk_bytes(metrics: list[Metric], scope_name: str) -> None:
    """The same bytes as the SDK's encoder; an integer beyond int64 (which the SDK's encoder drops
    with an error, or refuses) is the one thing left to it: the exporter then uses the SDK's."""
    data = MetricsData([ResourceMetrics(RESOURCE, [ScopeMetrics(InstrumentationScope(scope_name), metrics, "")], "")])
    points = [point for metric in metrics for point in metric.data.data_points]
    if _beyond_int64(points):
        with pytest.raises(Unsupported):
            metric_wire.encode_metrics(data)
        return
    assert metric_wire.encode_metrics(data) == sdk_bytes(data)


def _one_point(value: Any) -> MetricsData:
    point = NumberDataPoint({"k": "v"}, 1, 2, value, [])
    metric = Metric("m", "", "1", Sum([point], AggregationTemporality.DELTA, False))
    return MetricsData([ResourceMetrics(RESOURCE, [ScopeMetrics(InstrumentationScope("s"), [metric], "")], "")])


def test_what_only_the_sdk_decides_about_is_left_to_it() -> None:
    exponential = _sdk_collection(AggregationTemporality.CUMULATIVE, exponential=True)
    assert any(
        isinstance(m.data, ExponentialHistogram)
        for rm in exponential.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    )
    assert ExponentialHistogramDataPoint  # the kind the wire encoder does not write
    for data in (exponential, _one_point(2**70)):
        with pytest.raises(Unsupported):
            metric_wire.encode_metrics(data)
    one = _one_point(5).resource_metrics[0]
    with pytest.raises(Unsupported):  # the SDK's encoder keeps only the last entry of a resource
        metric_wire.encode_metrics(MetricsData([one, one]))


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


def test_the_exporter_sends_the_sdk_bytes(receiver: OtlpReceiver) -> None:
    data = _store_collection(AggregationTemporality.CUMULATIVE, collections=2)
    exporter = WireMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics")
    assert exporter.wire_encoding
    assert exporter.export(data) is MetricExportResult.SUCCESS
    assert receiver.raw == [sdk_bytes(data)]
    assert len(receiver.metric_points("c")) == 3  # the receiver parses what was sent
    exporter.shutdown()
    assert exporter.export(data) is MetricExportResult.FAILURE
    assert len(receiver.raw) == 1


def test_what_the_encoder_leaves_and_split_batches_take_the_sdks_export(receiver: OtlpReceiver) -> None:
    exponential = _sdk_collection(AggregationTemporality.CUMULATIVE, exponential=True)
    exporter = WireMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics")
    assert exporter.export(exponential) is MetricExportResult.SUCCESS
    split = WireMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics", max_export_batch_size=1000)
    data = _store_collection(AggregationTemporality.DELTA, collections=1)
    assert split.export(data) is MetricExportResult.SUCCESS
    assert receiver.raw == [sdk_bytes(exponential), sdk_bytes(data)]
    exporter.shutdown()
    split.shutdown()


def test_an_encoder_bug_is_reported_and_the_export_still_goes_out(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _store_collection(AggregationTemporality.CUMULATIVE, collections=1)
    exporter = WireMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics")
    with encoder_bug(monkeypatch, metric_wire, "encode_metrics", "metric encoder"):
        assert exporter.export(data) is MetricExportResult.SUCCESS
    assert receiver.raw == [sdk_bytes(data)]
    exporter.shutdown()


def test_the_pipeline_otel_llm_builds_exports_metrics_with_the_wire_encoder() -> None:
    from otel_llm._export.setup import _otlp_metric_exporter

    wire, sdk = _otlp_metric_exporter({}, "wire"), _otlp_metric_exporter({}, "sdk")
    grpc = _otlp_metric_exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "wire")
    try:
        assert isinstance(wire, WireMetricExporter) and wire.wire_encoding
        assert not isinstance(sdk, WireMetricExporter) and not isinstance(grpc, WireMetricExporter)
    finally:
        for exporter in (wire, sdk, grpc):
            exporter.shutdown()
