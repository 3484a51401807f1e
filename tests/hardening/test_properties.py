"""Property-based: any payload LiteLLM could hand us goes through record and emit safely."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm._capture.payload import build_record
from otel_llm._config import resolve
from otel_llm._emit.attributes import metric_attributes, span_attributes
from otel_llm._emit.telemetry import Telemetry

pytestmark = pytest.mark.slow  # stress and property tests: seconds each; CI runs them

CONFIG = resolve({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_AND_EVENT", "OTEL_LLM_LOOP_MODE": "off"})
LIMIT = CONFIG.attribute_max_length
YEAR_2200_NS = 7_258_118_400 * 10**9

odd_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=4),  # lone surrogates
    st.just("None"),
    st.just(""),
    st.text(min_size=5000, max_size=5000).map(lambda s: s * 20),  # huge strings
)
odd_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    odd_text,
    st.binary(max_size=20),
    # Out of range: beyond int64 / uint64 nanoseconds / the float range / int()'s digit limit.
    st.sampled_from([4e10, 1e12, 1e300, -1e308, 2**63, 2**64, 2**100, -(2**80), 10**400, "9" * 5000, "1e400", "²"]),
    st.floats(min_value=1e9, max_value=1e300),  # epoch seconds from now to far beyond year 2200
    st.datetimes(timezones=st.none() | st.just(timezone.utc)),
    st.sampled_from([datetime.max, datetime.min, datetime(9999, 12, 31)]),
)
odd_value = st.recursive(
    odd_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(odd_text, inner, max_size=4)),
    max_leaves=12,
)
KEYS = [
    "litellm_call_id",
    "call_type",
    "custom_llm_provider",
    "model",
    "model_group",
    "model_id",
    "api_base",
    "stream",
    "startTime",
    "endTime",
    "completionStartTime",
    "prompt_tokens",
    "completion_tokens",
    "response_cost",
    "status",
    "error_str",
    "error_information",
    "response",
    "messages",
    "metadata",
    "hidden_params",
    "cache_hit",
    "request_tags",
    "end_user",
    "session_id",
]
PARAMETERS = ["temperature", "top_p", "max_tokens", "seed", "n", "stop", "frequency_penalty"]
model_parameters = st.one_of(st.fixed_dictionaries({}, optional={key: odd_value for key in PARAMETERS}), odd_value)
payloads = st.one_of(
    st.fixed_dictionaries({}, optional={**{key: odd_value for key in KEYS}, "model_parameters": model_parameters}),
    odd_value,
)
kwargs_strategy = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "litellm_params": odd_value,
            "optional_params": odd_value,
            "messages": odd_value,
            "litellm_call_id": odd_value,
        },
    ),
    odd_value,
)


def _check_value(key: str, value: Any) -> None:
    assert value is not None, key
    if isinstance(value, str):
        assert value not in ("", "None"), key
        value.encode("utf-8")  # no lone surrogates reach the exporter
        if not key.startswith("gen_ai.input") and not key.startswith("gen_ai.output"):
            assert len(value) <= LIMIT, key
    elif isinstance(value, float):
        assert math.isfinite(value), key
    elif isinstance(value, tuple):
        for item in value:
            _check_value(key, item)
    if "tokens" in key and isinstance(value, int):
        assert value >= 0, key
    if isinstance(value, int) and not isinstance(value, bool):
        assert -(2**63) <= value < 2**63, key  # OTLP ints are int64


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(payload=payloads, kwargs=kwargs_strategy)
# Found by hypothesis in a CI run: an API base of 100,000 characters gave a server.address as long.
@example(payload={"api_base": "0" * 100_000}, kwargs={})
def test_any_payload_builds_a_clean_record(payload: Any, kwargs: Any) -> None:
    """No exception, and no None / NaN / empty / 'None' / over-long attribute, whatever the payload."""
    record = build_record(payload, kwargs, CONFIG)
    for key, value in span_attributes(record).items():
        _check_value(key, value)
    for key, value in metric_attributes(record, frozenset({"key", "team", "user", "end_user", "org"})).items():
        _check_value(key, value)
    assert record.duration_s is None or record.duration_s >= 0
    assert record.cost_usd is None or (math.isfinite(record.cost_usd) and record.cost_usd >= 0)
    for ns in (record.start_ns, record.end_ns, record.first_chunk_ns):
        assert ns is None or 0 < ns < YEAR_2200_NS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(st.tuples(payloads, kwargs_strategy), min_size=1, max_size=4))
def test_any_payload_emits_safely_and_counters_never_decrease(batch: list[tuple[Any, Any]]) -> None:
    """Emitting odd records raises nothing (strict mode is on), and every cumulative value only grows."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(InMemoryLogRecordExporter()))
    telemetry = Telemetry(CONFIG, tracer_provider, meter_provider, logs)
    previous: dict[tuple[str, str], float] = {}
    try:
        for payload, kwargs in batch:
            telemetry.emit(build_record(payload, kwargs, CONFIG))
            data = reader.get_metrics_data()
            for rm in data.resource_metrics if data else []:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        for point in metric.data.data_points:
                            total = getattr(point, "sum", None)
                            if total is None:
                                total = getattr(point, "value", 0)
                            key = (metric.name, repr(sorted(point.attributes.items())))
                            if "spend" in metric.name or "budget" in metric.name or "ratelimit" in metric.name:
                                continue  # gauges may go down
                            assert math.isfinite(total) and total >= previous.get(key, 0), metric.name
                            previous[key] = total
        finished = spans.get_finished_spans()
        encode_spans(finished)  # the whole batch encodes to OTLP: no span's time or int is out of range
        for span in finished:
            for key, value in span.attributes.items():
                _check_value(key, value)
            assert span.start_time is not None and 0 < span.start_time < YEAR_2200_NS
            assert span.end_time is not None and 0 < span.end_time < YEAR_2200_NS
    finally:
        telemetry.close()
        tracer_provider.shutdown()
        meter_provider.shutdown()
