"""Process-wide state: in one place, reset in one call, and never holding what the application dropped."""

from __future__ import annotations

import gc

import litellm
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

import otel_llm.testing
from otel_llm import LiteLLMInstrumentor, OtelLLMCallback, _errors, _state
from otel_llm._capture.dedupe import SEEN
from otel_llm._emit.store import MetricStore
from otel_llm._emit.telemetry import Telemetry
from tests.conftest import internal_error_points


def _live(kind: type) -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, kind))


def test_dropped_callbacks_and_instrumentors_are_released() -> None:
    """Creating and dropping callbacks (with their metric stores) and instrumenting/uninstrumenting in a
    loop leaves no callback, Telemetry or store behind (error sinks and fork hooks hold nothing strongly)."""
    tracer_provider, meter_provider = TracerProvider(), MeterProvider(metric_readers=[InMemoryMetricReader()])
    before = (_live(OtelLLMCallback), _live(Telemetry), _live(MetricStore))
    for _ in range(30):
        callback = OtelLLMCallback(tracer_provider, meter_provider)
        litellm.callbacks.append(callback)
        litellm.logging_callback_manager.remove_callback_from_all_lists(callback)
        del callback
        instrumentor = LiteLLMInstrumentor()
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        instrumentor.uninstrument()
    after = (_live(OtelLLMCallback), _live(Telemetry), _live(MetricStore))
    assert after == before


def test_two_telemetries_on_one_provider_count_an_internal_error_once() -> None:
    """The proxy under opentelemetry-instrument has two callbacks on one provider: one error, one count."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    config = OtelLLMCallback(TracerProvider(), provider).config
    first, second = Telemetry(config, meter_provider=provider), Telemetry(config, meter_provider=provider)
    _errors.set_strict(False)
    try:
        _errors.report("test.component", RuntimeError("boom"))
    finally:
        _errors.set_strict(True)
    assert sum(p.value for p in internal_error_points(reader, "test.component")) == 1
    first.close()
    second.close()


def test_one_reset_empties_every_holder() -> None:
    """Every holder of process-wide state is listed with why, and testing.reset() empties them."""
    names = {holder.name for holder in _state.holders()}
    assert {"live calls", "reported calls", "loop detectors", "key-hash salt", "internal error counts"} <= names
    assert all(holder.why for holder in _state.holders())
    assert SEEN.first_time("call-1")
    otel_llm.testing.reset()
    assert SEEN.first_time("call-1")


def test_a_second_telemetry_on_one_provider_reports_its_gauges() -> None:
    """The SDK keeps the first callback of a gauge name per meter: the gauges read every live store on
    the meter, so a second callback's budget gauges are reported too (they were not)."""
    from otel_llm._record import Attribution, Headroom, InvocationRecord

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    config = OtelLLMCallback(TracerProvider(), provider).config
    first, second = Telemetry(config, meter_provider=provider), Telemetry(config, meter_provider=provider)
    for telemetry, alias in ((first, "key-first"), (second, "key-second")):
        record = InvocationRecord(call_id=alias, operation="chat")
        record.attribution = Attribution(key_alias=alias)
        record.headroom = Headroom(key_spend=1.0, key_max_budget=4.0)
        telemetry.headroom.emit(record)
    data = reader.get_metrics_data()
    assert data is not None
    aliases = {
        point.attributes["otel_llm.key.alias"]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "otel_llm.key.budget.utilization"
        for point in metric.data.data_points
    }
    assert aliases == {"key-first", "key-second"}
    first.close()
    second.close()
