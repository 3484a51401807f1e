"""Chat completions over real HTTP: span shape, attribute types, tokens, cost and metrics."""

from __future__ import annotations

import asyncio

import litellm
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm._emit.instruments import DURATION_BUCKETS, TOKEN_BUCKETS
from tests.conftest import Signals
from tests.fakes import CHAT_MODEL_SERVED, FakeOpenAI

MESSAGES = [{"role": "user", "content": "say hello to the test suite"}]  # 6 words = 6 prompt tokens
PROMPT_TOKENS = 6
COMPLETION_TOKENS = 5  # "Hello from the fake provider"


def _assert_chat_span(span: object, *, stream: bool) -> None:
    attrs = dict(span.attributes)  # type: ignore[attr-defined]
    assert span.name == "chat gpt-4o-mini"  # type: ignore[attr-defined]
    assert span.kind is SpanKind.CLIENT  # type: ignore[attr-defined]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    # LiteLLM re-labels streamed chunks with the requested model; plain responses keep the provider's.
    assert attrs["gen_ai.response.model"] == ("gpt-4o-mini" if stream else CHAT_MODEL_SERVED)
    assert attrs["gen_ai.request.stream"] is stream
    assert attrs["gen_ai.request.temperature"] == 0.5 and isinstance(attrs["gen_ai.request.temperature"], float)
    assert attrs["gen_ai.request.max_tokens"] == 40 and isinstance(attrs["gen_ai.request.max_tokens"], int)
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert isinstance(attrs["gen_ai.response.id"], str) and attrs["gen_ai.response.id"].startswith("chatcmpl-")
    assert attrs["gen_ai.usage.input_tokens"] == PROMPT_TOKENS
    assert attrs["gen_ai.usage.output_tokens"] == COMPLETION_TOKENS
    assert attrs["server.address"] == "localhost" or attrs["server.address"] == "127.0.0.1"
    assert isinstance(attrs["server.port"], int)
    assert isinstance(attrs["otel_llm.usage.cost"], float) and attrs["otel_llm.usage.cost"] > 0
    assert attrs["otel_llm.usage.source"] == "provider"
    assert attrs["otel_llm.cost.source"] == "litellm"
    for legacy in ("gen_ai.system", "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens"):
        assert legacy not in attrs
    for key, value in attrs.items():
        assert value is not None and value not in {"", "None"}, key
    assert span.status.status_code is StatusCode.UNSET  # type: ignore[attr-defined]
    if stream:
        ttfc = attrs["gen_ai.response.time_to_first_chunk"]
        assert isinstance(ttfc, float) and 0 <= ttfc <= (span.end_time - span.start_time) / 1e9  # type: ignore[attr-defined]


def _assert_chat_metrics(signals: Signals, calls: int, *, stream: bool) -> None:
    durations = signals.points("gen_ai.client.operation.duration")
    assert sum(p.count for p in durations) == calls
    assert tuple(durations[0].explicit_bounds) == DURATION_BUCKETS
    assert durations[0].attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini" if stream else CHAT_MODEL_SERVED,
    }
    tokens = {p.attributes["gen_ai.token.type"]: p for p in signals.points("gen_ai.client.token.usage")}
    assert tokens["input"].sum == PROMPT_TOKENS * calls
    assert tokens["output"].sum == COMPLETION_TOKENS * calls
    assert tuple(tokens["input"].explicit_bounds) == TOKEN_BUCKETS
    cost = signals.points("otel_llm.client.cost")
    assert cost and cost[0].sum > 0 and cost[0].count == calls
    ttfc = signals.points("gen_ai.client.operation.time_to_first_chunk")
    assert (sum(p.count for p in ttfc) == calls) if stream else not ttfc


def _call_kwargs(fake: FakeOpenAI) -> dict[str, object]:
    return {
        "model": "openai/gpt-4o-mini",
        "messages": MESSAGES,
        "api_base": fake.api_base,
        "api_key": "sk-test-provider-key-0123456789",
        "temperature": 0.5,
        "max_tokens": 40,
    }


def test_sync_chat(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """A sync chat call gives one CLIENT span with exact GenAI attributes and metrics."""
    response = litellm.completion(**_call_kwargs(fake_openai))
    assert response.choices[0].message.content == fake_openai.reply
    (span,) = signals.wait_spans(1)
    _assert_chat_span(span, stream=False)
    _assert_chat_metrics(signals, 1, stream=False)


async def test_async_chat(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """An async chat call gives the same span and metrics as a sync one."""
    await litellm.acompletion(**_call_kwargs(fake_openai))
    (span,) = await asyncio.to_thread(signals.wait_spans, 1)
    _assert_chat_span(span, stream=False)
    _assert_chat_metrics(signals, 1, stream=False)


def test_sync_stream(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """A streamed chat call counts the provider's usage chunk and times the first chunk."""
    stream = litellm.completion(**_call_kwargs(fake_openai), stream=True, stream_options={"include_usage": True})
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == fake_openai.reply
    (span,) = signals.wait_spans(1)
    _assert_chat_span(span, stream=True)
    _assert_chat_metrics(signals, 1, stream=True)


async def test_async_stream(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """An async stream reports the provider's token counts and time to first chunk."""
    stream = await litellm.acompletion(**_call_kwargs(fake_openai), stream=True, stream_options={"include_usage": True})
    async for _chunk in stream:
        pass
    (span,) = await asyncio.to_thread(signals.wait_spans, 1)
    _assert_chat_span(span, stream=True)
    _assert_chat_metrics(signals, 1, stream=True)


def test_stream_chunk_timing_is_observed_live(instrumented: object, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """With live spans, the gap between chunks is recorded per chunk after the first."""
    fake_openai.chunk_delay_s = 0.02
    stream = litellm.completion(**_call_kwargs(fake_openai), stream=True, stream_options={"include_usage": True})
    chunks = sum(1 for _ in stream)
    signals.wait_spans(1)
    gaps = signals.points("gen_ai.client.operation.time_per_output_chunk")
    assert sum(p.count for p in gaps) == chunks - 1
    assert gaps[0].sum >= 0.02 * (COMPLETION_TOKENS - 1) * 0.9


def test_histograms_carry_exemplars_of_the_call(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """Duration and cost points carry an exemplar pointing at the call's span (metrics → trace)."""
    litellm.completion(**_call_kwargs(fake_openai))
    (span,) = signals.wait_spans(1)
    collected = signals.metrics()  # one collection: exemplars belong to the interval they were offered in
    for name in ("gen_ai.client.operation.duration", "otel_llm.client.cost"):
        exemplars = [e for point in collected[name] for e in point.exemplars]
        assert exemplars, name
        assert {(e.trace_id, e.span_id) for e in exemplars} == {(span.context.trace_id, span.context.span_id)}, name
