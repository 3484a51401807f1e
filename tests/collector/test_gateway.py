"""The scale-out topology (collector/gateway/): agent → load balancing → gateway with tail sampling
→ Tempo, and metrics with remote write → a Prometheus-compatible backend, run for real."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Span, Status, StatusCode

from tests.collector.stack import COLLECTOR, Collector, Prometheus, wait_until
from tests.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def tiers(tmp_path: Path) -> Iterator[tuple[Collector, OtlpReceiver, Prometheus]]:
    with OtlpReceiver() as tempo:
        backend = Prometheus(tmp_path / "prometheus", None)
        gateway = Collector(
            tmp_path / "gateway",
            tempo.endpoint,
            configs=[COLLECTOR / "gateway" / "gateway.yaml"],
            OTEL_LLM_REMOTE_WRITE_ENDPOINT=f"{backend.url}/api/v1/write",
            OTEL_LLM_TAIL_DECISION_WAIT="1s",
            OTEL_LLM_TAIL_SAMPLING_PERCENTAGE="0",
        )
        agent = Collector(
            tmp_path / "agent",
            tempo.endpoint,
            configs=[COLLECTOR / "gateway" / "agent.yaml"],
            OTEL_LLM_GATEWAY_HOSTNAME="127.0.0.1",
            OTEL_LLM_GATEWAY_PORT=str(gateway.ports["grpc"]),
        )
        started = []
        try:
            for process in (backend, gateway, agent):
                started.append(process.start())
            yield agent, tempo, backend
        finally:
            for process in reversed(started):
                process.stop()


def test_gateway_keeps_the_traces_that_matter_and_remote_writes_metrics(
    tiers: tuple[Collector, OtlpReceiver, Prometheus],
) -> None:
    """Errors, fallbacks, loops and slow calls are kept whole; an ordinary trace is sampled out (0%)."""
    agent, tempo, backend = tiers
    resource = Resource.create({"service.name": "litellm-proxy", "service.instance.id": "worker-1"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{agent.otlp_http}/v1/traces")))
    tracer = tracer_provider.get_tracer("test")
    traces: dict[str, str] = {}

    @contextmanager
    def trace(name: str) -> Iterator[Span]:
        with tracer.start_as_current_span(f"chat {name}") as root:
            traces[name] = format(root.get_span_context().trace_id, "032x")
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes={"otel_llm.model_group": name}) as child:
                yield child

    with trace("ordinary"):
        pass
    with trace("error") as span:
        span.set_status(Status(StatusCode.ERROR))
    with trace("fallback") as span:
        span.set_attribute("otel_llm.attempt.fallback_depth", 1)
    with trace("loop") as span:
        span.add_event("otel_llm.loop.detected", {"otel_llm.loop.reason": "repeat"})
    start = time.time_ns()
    with tracer.start_as_current_span("chat slow", start_time=start) as slow:
        traces["slow"] = format(slow.get_span_context().trace_id, "032x")
        slow.end(end_time=start + 12_000_000_000)  # 12 s, over the 10.24 s threshold

    meter_provider = MeterProvider(
        resource=resource,
        metric_readers=[
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{agent.otlp_http}/v1/metrics"), export_interval_millis=60_000
            )
        ],
    )
    meter = meter_provider.get_meter("otel_llm")
    meter.create_counter("otel_llm.client.fallbacks", unit="{fallback}").add(
        1, {"otel_llm.fallback.from_model_group": "gpt-flaky", "otel_llm.fallback.to_model_group": "gpt-backup"}
    )
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
    duration.record(0.5, {"otel_llm.model_group": "gpt-main"})
    meter_provider.force_flush()

    kept = {"error", "fallback", "loop", "slow"}

    def arrived() -> set[str]:
        ids = {s["trace_id"] for s in tempo.spans()}
        return {name for name, trace_id in traces.items() if trace_id in ids}

    wait_until(lambda: kept <= arrived(), 30, f"traces {sorted(kept)} in Tempo (got {sorted(arrived())})")
    assert "ordinary" not in arrived()  # decided in the same tick as the others, and dropped
    by_trace = {name: [s for s in tempo.spans() if s["trace_id"] == traces[name]] for name in kept - {"slow"}}
    assert all(len(spans) == 2 for spans in by_trace.values())  # whole traces, root and child

    wait_until(
        lambda: backend.query('otel_llm_client_fallbacks_total{otel_llm_fallback_from_model_group="gpt-flaky"}'),
        30,
        "the fallback counter written to Prometheus",
    )
    (series,) = backend.query('otel_llm_client_fallbacks_total{otel_llm_fallback_from_model_group="gpt-flaky"}')
    assert series["metric"]["service_name"] == "litellm-proxy"
    assert series["metric"]["service_instance_id"] == "worker-1"
    assert backend.query('gen_ai_client_operation_duration_seconds_bucket{otel_llm_model_group="gpt-main", le="+Inf"}')
    meter_provider.shutdown()
    tracer_provider.shutdown()
