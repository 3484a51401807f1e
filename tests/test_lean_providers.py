"""FastAPI's own telemetry on lean providers: the same SERVER spans and HTTP metrics, through the store."""

from __future__ import annotations

from typing import Any

import fastapi
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm._emit.store import MetricStore
from otel_llm._export.lean_providers import LeanMeterProvider, LeanTracerProvider
from otel_llm._export.lean_spans import LeanSpan
from otel_llm._proxy.fastapi_telemetry import configure_fastapi_telemetry


def _app() -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @app.post("/v1/chat/completions")
    def chat() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/boom")
    def boom() -> None:
        raise fastapi.HTTPException(status_code=503, detail="down")

    return app


def _traffic(app: fastapi.FastAPI) -> None:
    client = TestClient(app)
    for _ in range(3):
        assert client.post("/v1/chat/completions?key=sk-secret-abc").status_code == 200
    assert client.get("/boom").status_code == 503


def _shape(metrics: list[Any]) -> dict[str, list[Any]]:
    """Names, kinds, attributes and counts (the durations themselves differ run to run)."""
    result: dict[str, list[Any]] = {}
    for metric in metrics:
        points = [
            (tuple(sorted(p.attributes.items())), getattr(p, "count", None), getattr(p, "value", None))
            for p in metric.data.data_points
        ]
        bounds = [tuple(getattr(p, "explicit_bounds", ()) or ()) for p in metric.data.data_points]
        result[metric.name] = [*sorted(points, key=str), tuple(sorted(set(bounds)))]
    return result


@pytest.fixture
def sdk_side() -> tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]:
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider, exporter, MeterProvider(metric_readers=[reader]), reader


def test_fastapi_on_lean_providers_matches_the_sdk(
    sdk_side: tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader],
) -> None:
    """The same requests: SERVER spans with the same names, kinds, attributes and statuses (lean spans on
    the lean side), and the same HTTP metrics by name, attributes, counts and buckets (from the store)."""
    tracer_provider, exporter, meter_provider, reader = sdk_side
    sdk_app = _app()
    assert configure_fastapi_telemetry("server", sdk_app, (tracer_provider, meter_provider))
    _traffic(sdk_app)
    sdk_spans = exporter.get_finished_spans()
    data = reader.get_metrics_data()
    assert data is not None
    fastapi_scope = [sm for rm in data.resource_metrics for sm in rm.scope_metrics if sm.scope.name == "fastapi"]
    sdk_metrics = [m for sm in fastapi_scope for m in sm.metrics]
    exporter.clear()

    store = MetricStore(3600.0, 10_000, 300.0)
    slot = store.add_reader("test")
    lean_app = _app()
    lean = (LeanTracerProvider(tracer_provider), LeanMeterProvider(store, meter_provider))
    assert configure_fastapi_telemetry("server", lean_app, lean)
    _traffic(lean_app)
    lean_spans = exporter.get_finished_spans()
    (scope,) = store.scopes()
    assert scope is not None and scope[0] == "fastapi"
    lean_metrics = store.collect(slot, lambda kind: AggregationTemporality.CUMULATIVE, False, scope)

    assert all(isinstance(span, LeanSpan) for span in lean_spans) and lean_spans
    assert [(s.name, s.kind, dict(s.attributes), s.status.status_code) for s in lean_spans] == [
        (s.name, s.kind, dict(s.attributes), s.status.status_code) for s in sdk_spans
    ]
    assert _shape(lean_metrics) == _shape(sdk_metrics)
    assert {m.name for m in lean_metrics} >= {"http.server.request.duration", "http.server.active_requests"}


def test_off_keeps_fastapi_silent_whatever_the_providers() -> None:
    """With OTEL_LLM_PROXY_FASTAPI_TELEMETRY=off the providers are not installed either."""
    app = _app()
    configure_fastapi_telemetry("off", app, (object(), object()))
    assert app._telemetry["tracer_provider"] is None and app._telemetry["tracing"] is False
