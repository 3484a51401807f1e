"""The proxy's lean telemetry defaults: FastAPI's own telemetry, provider HTTP spans, span batches.

OTEL_LLM_PROXY_FASTAPI_TELEMETRY is tested on a real FastAPI app (the proxy's web framework)
with its native telemetry pointed at in-memory providers, driven over ASGI by Starlette's
test client; OTEL_LLM_PROXY_HTTP_SPANS on the real httpx and aiohttp instrumentors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from otel_llm._config import resolve
from otel_llm._export.setup import SPAN_BATCH_SIZE, span_processor
from otel_llm._proxy.callback import _instrument_http_clients
from otel_llm._proxy.fastapi_telemetry import configure_fastapi_telemetry
from tests.conftest import Signals


def _app(signals: Signals) -> FastAPI:
    app = FastAPI(telemetry={"tracer_provider": signals.tracer_provider, "meter_provider": signals.meter_provider})

    def caller() -> str:
        return "caller"

    @app.post("/v1/chat/completions")
    def chat(who: str = Depends(caller)) -> dict[str, str]:
        return {"who": who}

    return app


def _serve_one(app: FastAPI) -> None:
    with TestClient(app) as client:
        assert client.post("/v1/chat/completions").json() == {"who": "caller"}


def test_default_keeps_the_server_span_and_http_metrics_without_operation_spans(signals: Signals) -> None:
    app = _app(signals)
    assert resolve({}).proxy_fastapi_telemetry == "server"
    assert configure_fastapi_telemetry(resolve({}).proxy_fastapi_telemetry, app)
    _serve_one(app)
    spans = signals.spans()
    assert [(s.kind, s.name) for s in spans] == [(SpanKind.SERVER, "POST /v1/chat/completions")]
    assert signals.points("http.server.request.duration")


def test_full_keeps_fastapis_operation_spans(signals: Signals) -> None:
    app = _app(signals)
    assert configure_fastapi_telemetry("full", app)
    _serve_one(app)
    names = {s.name for s in signals.spans()}
    assert "POST /v1/chat/completions" in names
    assert any(name.startswith("fastapi.") for name in names), names


def test_off_leaves_the_request_span_to_otel_llm(signals: Signals) -> None:
    app = _app(signals)
    mode = resolve({"OTEL_LLM_PROXY_FASTAPI_TELEMETRY": " OFF "}).proxy_fastapi_telemetry
    assert mode == "off"
    assert configure_fastapi_telemetry(mode, app)
    _serve_one(app)
    assert signals.spans() == []
    assert not signals.points("http.server.request.duration")


def test_a_wrong_value_is_named_and_the_default_applies(signals: Signals, caplog: pytest.LogCaptureFixture) -> None:
    app = _app(signals)
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        mode = resolve({"OTEL_LLM_PROXY_FASTAPI_TELEMETRY": "verbose"}).proxy_fastapi_telemetry
    assert mode == "server"
    assert "OTEL_LLM_PROXY_FASTAPI_TELEMETRY='verbose'" in caplog.text and "server, full, off" in caplog.text
    configure_fastapi_telemetry(mode, app)
    _serve_one(app)
    assert [s.kind for s in signals.spans()] == [SpanKind.SERVER]


def test_an_app_without_native_telemetry_is_left_alone() -> None:
    assert configure_fastapi_telemetry("off", object()) is False


@pytest.mark.parametrize(("value", "enabled"), [(None, False), ("false", False), ("true", True), ("ON", True)])
def test_provider_http_spans_are_opt_in(value: str | None, enabled: bool) -> None:
    env = {} if value is None else {"OTEL_LLM_PROXY_HTTP_SPANS": value}
    assert resolve(env).proxy_http_spans is enabled


def test_http_span_instrumentation_instruments_httpx_and_aiohttp() -> None:
    instrumentors = (HTTPXClientInstrumentor(), AioHttpClientInstrumentor())  # singletons
    assert not any(i.is_instrumented_by_opentelemetry for i in instrumentors)
    try:
        _instrument_http_clients()
        assert all(i.is_instrumented_by_opentelemetry for i in instrumentors)
    finally:
        for instrumentor in instrumentors:
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()


class _Batches(SpanExporter):
    def __init__(self) -> None:
        self.sizes: list[int] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.sizes.append(len(spans))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _batch_sizes(env: dict[str, str], spans: int = 150) -> list[int]:
    exporter = _Batches()
    provider = TracerProvider()
    provider.add_span_processor(span_processor(exporter, env))
    tracer = provider.get_tracer("test")
    for _ in range(spans):
        tracer.start_span("s").end()
    assert provider.force_flush(10_000)
    provider.shutdown()
    assert sum(exporter.sizes) == spans
    return exporter.sizes


def test_span_batches_are_small_unless_configured(caplog: pytest.LogCaptureFixture) -> None:
    # Smaller batches spread the encoding (which competes for the GIL) instead of one 512-span burst.
    assert max(_batch_sizes({})) == SPAN_BATCH_SIZE == 64
    assert max(_batch_sizes({"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "100"})) == 100
    # A queue smaller than the default batch caps it (the SDK refuses a batch larger than its queue).
    assert max(_batch_sizes({"OTEL_BSP_MAX_QUEUE_SIZE": "32"}, spans=32)) <= 32
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        assert max(_batch_sizes({"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "many"})) == SPAN_BATCH_SIZE
    assert "OTEL_BSP_MAX_EXPORT_BATCH_SIZE='many'" in caplog.text
