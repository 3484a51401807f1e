"""Live spans whose callback never comes, bounded waiting, and Router streams."""

from __future__ import annotations

from collections.abc import Iterator

import litellm
import pytest
from opentelemetry.trace import SpanKind

from otel_llm import LiteLLMInstrumentor
from otel_llm._capture.live import REGISTRY
from tests.conftest import Signals, wait_for
from tests.fakes import FakeOpenAI

MESSAGES = [{"role": "user", "content": "where did my callback go"}]


@pytest.fixture
def instrumented_without_callback(signals: Signals, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiteLLMInstrumentor]:
    """The patches without LiteLLM ever reporting (as when LiteLLM drops a logging task)."""
    monkeypatch.setenv("OTEL_LLM_CALLBACK_TIMEOUT", "0.2")
    monkeypatch.setenv("OTEL_LLM_PENDING_LIMIT", "3")
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    callback = instrumentor.callback
    assert callback is not None
    litellm.logging_callback_manager.remove_callback_from_all_lists(callback)
    yield instrumentor
    instrumentor.uninstrument()


def test_missing_callback_finishes_span_from_response(
    instrumented_without_callback: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """Without LiteLLM's callback, the span is finished after the timeout from the response object."""
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, api_base=fake_openai.api_base, api_key="sk-x")
    (span,) = signals.wait_spans(1, timeout=5)
    assert span.attributes["otel_llm.span.incomplete"] is True
    assert span.attributes["gen_ai.usage.input_tokens"] == 5
    assert span.attributes["gen_ai.usage.output_tokens"] == 5
    assert span.attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert span.attributes["otel_llm.usage.cost"] > 0
    assert sum(p.count for p in signals.points("gen_ai.client.operation.duration")) == 1


def test_missing_callback_on_failure(
    instrumented_without_callback: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """A failed call is reported by the wrapper at once, complete, without waiting for a callback."""
    fake_openai.delay_s = 0.5
    with pytest.raises(litellm.Timeout):
        litellm.completion(
            model="openai/gpt-4o-mini",
            messages=MESSAGES,
            api_base=fake_openai.api_base,
            api_key="sk-x",
            timeout=0.1,
            num_retries=0,
        )
    (span,) = signals.wait_spans(1, timeout=5)
    assert span.attributes["error.type"] == "Timeout"
    assert "otel_llm.span.incomplete" not in span.attributes


def test_pending_calls_are_bounded(instrumented_without_callback: LiteLLMInstrumentor, signals: Signals) -> None:
    """Past OTEL_LLM_PENDING_LIMIT (3 here) the oldest waiting call is finished early, not kept."""
    for _ in range(5):
        litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="ok")
    assert len(REGISTRY) <= 3
    wait_for(lambda: len(signals.spans()) == 5, timeout=5)


def test_router_stream_parent_ends_with_the_stream(
    instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """A streamed Router request: the parent ends when the stream is exhausted, its attempt is a child."""
    router = litellm.Router(
        model_list=[
            {
                "model_name": "fast",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": fake_openai.api_base, "api_key": "sk"},
            }
        ]
    )
    fake_openai.chunk_delay_s = 0.02
    stream = router.completion(model="fast", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == fake_openai.reply
    signals.wait_spans(2)
    (parent,) = [s for s in signals.spans() if s.kind is SpanKind.INTERNAL]
    (attempt,) = [s for s in signals.spans() if s.kind is SpanKind.CLIENT]
    assert attempt.parent is not None and attempt.parent.span_id == parent.context.span_id
    assert parent.end_time >= attempt.start_time + 0.02 * 4 * 1e9
    assert attempt.attributes["gen_ai.usage.output_tokens"] == 5
