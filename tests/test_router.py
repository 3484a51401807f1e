"""Router requests: one logical parent with an attempt per try, retries and fallbacks counted once."""

from __future__ import annotations

import asyncio

import litellm
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from pytest_httpserver import HTTPServer

from tests.conftest import Signals
from tests.fakes import FailingProvider, FakeOpenAI, fallback_router

MESSAGES = [{"role": "user", "content": "route me please"}]


def _attempts(signals: Signals) -> list:
    return sorted((s for s in signals.spans() if s.kind is SpanKind.CLIENT), key=lambda s: s.start_time)


def _check_attempts(signals: Signals) -> None:
    first, retry, fallback = _attempts(signals)
    for failed in (first, retry):
        assert failed.attributes["otel_llm.model_group"] == "primary"
        assert failed.attributes["error.type"] == "InternalServerError"
        assert failed.status.status_code is StatusCode.ERROR
    assert "otel_llm.attempt.retry_index" not in first.attributes
    assert retry.attributes["otel_llm.attempt.retry_index"] == 1
    (retry_event,) = [e for e in retry.events if e.name == "otel_llm.retry"]
    assert retry_event.attributes["error.type"] == "InternalServerError"
    assert retry_event.attributes["otel_llm.retry.model_group"] == "primary"
    assert fallback.attributes["otel_llm.model_group"] == "backup"
    assert fallback.attributes["otel_llm.attempt.fallback_depth"] == 1
    assert fallback.status.status_code is StatusCode.UNSET
    assert fallback.attributes["gen_ai.usage.input_tokens"] == 3
    (fallback_event,) = [e for e in fallback.events if e.name == "otel_llm.fallback"]
    assert fallback_event.attributes["otel_llm.fallback.from_model_group"] == "primary"
    assert fallback_event.attributes["otel_llm.fallback.to_model_group"] == "backup"
    assert fallback_event.attributes["error.type"] == "InternalServerError"

    (retries,) = signals.points("otel_llm.client.retries")
    assert retries.value == 1
    assert retries.attributes["otel_llm.model_group"] == "primary"
    assert retries.attributes["error.type"] == "InternalServerError"
    (fallbacks,) = signals.points("otel_llm.client.fallbacks")
    assert fallbacks.value == 1
    assert fallbacks.attributes["otel_llm.fallback.from_model_group"] == "primary"
    assert fallbacks.attributes["otel_llm.fallback.to_model_group"] == "backup"
    durations = {
        (p.attributes["otel_llm.model_group"], p.attributes.get("error.type")): p.count
        for p in signals.points("gen_ai.client.operation.duration")
    }
    assert durations == {("primary", "InternalServerError"): 2, ("backup", None): 1}


def _check_parent(signals: Signals) -> None:
    (parent,) = [s for s in signals.spans() if s.kind is SpanKind.INTERNAL]
    assert parent.name == "chat primary"
    assert parent.attributes["gen_ai.request.model"] == "primary"
    assert parent.attributes["otel_llm.router.attempts"] == 3
    assert parent.attributes["otel_llm.router.retries"] == 1
    assert parent.attributes["otel_llm.router.fallbacks"] == 1
    assert parent.attributes["otel_llm.router.final_model_group"] == "backup"
    assert parent.status.status_code is StatusCode.UNSET
    for attempt in _attempts(signals):
        assert attempt.parent is not None and attempt.parent.span_id == parent.context.span_id
        assert attempt.context.trace_id == parent.context.trace_id
    assert [e.name for e in parent.events] == ["otel_llm.retry", "otel_llm.fallback"]


def test_router_sync_fallback(
    capture_mode: str, signals: Signals, httpserver: HTTPServer, fake_openai: FakeOpenAI
) -> None:
    """A failing primary retried once then falling back: three attempts, one retry, one fallback."""
    primary = FailingProvider(httpserver, "/primary", 500)
    response = fallback_router(primary, fake_openai).completion(model="primary", messages=MESSAGES)
    assert response.choices[0].message.content == fake_openai.reply
    assert primary.hits == 2
    signals.wait_spans(4 if capture_mode == "instrumentor" else 3)
    _check_attempts(signals)
    if capture_mode == "instrumentor":
        _check_parent(signals)


async def test_router_async_fallback(
    capture_mode: str, signals: Signals, httpserver: HTTPServer, fake_openai: FakeOpenAI
) -> None:
    """The async Router gives the same attempts, events and counters."""
    primary = FailingProvider(httpserver, "/aprimary", 500)
    await fallback_router(primary, fake_openai).acompletion(model="primary", messages=MESSAGES)
    await asyncio.to_thread(signals.wait_spans, 4 if capture_mode == "instrumentor" else 3)
    _check_attempts(signals)
    if capture_mode == "instrumentor":
        _check_parent(signals)


def test_router_total_failure(instrumented: object, signals: Signals, httpserver: HTTPServer) -> None:
    """When every attempt fails, the parent span fails with the last error."""
    primary = FailingProvider(httpserver, "/allfail", 429)
    router = litellm.Router(
        model_list=[
            {
                "model_name": "only",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": primary.api_base, "api_key": "sk-a"},
            }
        ],
        num_retries=0,
    )
    with pytest.raises(litellm.RateLimitError):
        router.completion(model="only", messages=MESSAGES)
    signals.wait_spans(2)
    (parent,) = [s for s in signals.spans() if s.kind is SpanKind.INTERNAL]
    assert parent.status.status_code is StatusCode.ERROR
    assert parent.attributes["error.type"] == "RateLimitError"
    assert "otel_llm.router.final_model_group" not in parent.attributes
