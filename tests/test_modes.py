"""The two capture paths agree, and live spans parent the provider's HTTP spans."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import litellm
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.trace import SpanKind

from otel_llm import LiteLLMInstrumentor, OtelLLMCallback
from tests.conftest import Signals
from tests.fakes import FakeOpenAI

MESSAGES = [{"role": "user", "content": "compare the two paths"}]
VOLATILE = {"gen_ai.response.id", "otel_llm.litellm.call_id", "gen_ai.response.time_to_first_chunk"}


def _run_calls(fake: FakeOpenAI) -> None:
    kwargs = {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "api_base": fake.api_base, "api_key": "sk-x"}
    litellm.completion(**kwargs, temperature=0.3)
    for _ in litellm.completion(**kwargs, stream=True, stream_options={"include_usage": True}):
        pass
    litellm.embedding(model="openai/text-embedding-3-small", input="a b", api_base=fake.api_base, api_key="sk-x")
    with pytest.raises(litellm.InternalServerError):
        litellm.completion(**{**kwargs, "api_base": fake.server.url_for("/nowhere")}, num_retries=0)


def _shape(signals: Signals, count: int) -> tuple[list[tuple[str, dict[str, object]]], dict[str, list[object]]]:
    spans = sorted(signals.wait_spans(count), key=lambda s: s.start_time)
    span_shape = [(s.name, {k: type(v).__name__ for k, v in s.attributes.items() if k not in VOLATILE}) for s in spans]
    metric_shape = {
        name: sorted(repr(sorted(p.attributes.items())) for p in points) for name, points in signals.metrics().items()
    }
    return span_shape, metric_shape


def test_callback_only_matches_instrumentor(signals: Signals, fake_openai: FakeOpenAI) -> None:
    """Callback-only mode emits the same span names, attribute keys and types, and metric series."""
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    try:
        _run_calls(fake_openai)
        live = _shape(signals, 4)
    finally:
        instrumentor.uninstrument()

    second = _fresh_signals()  # fresh providers for the second run
    callback = OtelLLMCallback(second.tracer_provider, second.meter_provider)
    litellm.callbacks.append(callback)
    try:
        _run_calls(fake_openai)
        backdated = _shape(second, 4)
    finally:
        litellm.logging_callback_manager.remove_callback_from_all_lists(callback)
    assert live[0] == backdated[0]
    live_metrics = {k: v for k, v in live[1].items() if k != "gen_ai.client.operation.time_per_output_chunk"}
    assert live_metrics == backdated[1]


def _fresh_signals() -> Signals:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return Signals(
        tracer_provider,
        MeterProvider(metric_readers=[reader]),
        LoggerProvider(),
        exporter,
        reader,
        InMemoryLogRecordExporter(),
    )


@pytest.fixture
def httpx_instrumented(signals: Signals) -> Iterator[None]:
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument(tracer_provider=signals.tracer_provider)
    litellm.disable_aiohttp_transport = True  # LiteLLM's aiohttp transport bypasses httpx instrumentation
    yield
    litellm.disable_aiohttp_transport = False
    instrumentor.uninstrument()


def _assert_http_child(signals: Signals) -> None:
    spans = signals.wait_spans(2)
    (llm,) = [s for s in spans if s.attributes.get("gen_ai.operation.name")]
    (http,) = [s for s in spans if s.instrumentation_scope.name.endswith("httpx")]
    assert llm.kind is SpanKind.CLIENT and http.kind is SpanKind.CLIENT
    assert http.parent is not None and http.parent.span_id == llm.context.span_id
    assert llm.start_time <= http.start_time and http.end_time <= llm.end_time


def test_provider_http_span_is_child_sync(
    httpx_instrumented: None, instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """With httpx instrumentation, the provider's HTTP span is a child of the live LLM span."""
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, api_base=fake_openai.api_base, api_key="sk-x")
    _assert_http_child(signals)


async def test_provider_http_span_is_child_async(
    httpx_instrumented: None, instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """The same holds for async calls."""
    await litellm.acompletion(
        model="openai/gpt-4o-mini", messages=MESSAGES, api_base=fake_openai.api_base, api_key="sk-x"
    )
    await asyncio.to_thread(_assert_http_child, signals)
