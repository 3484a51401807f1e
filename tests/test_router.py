"""Router requests: one logical parent with an attempt per try, retries and fallbacks counted once."""

from __future__ import annotations

import asyncio
import json

import litellm
import pytest
import wrapt
from opentelemetry.trace import SpanKind, StatusCode
from pytest_httpserver import HTTPServer

from otel_llm import LiteLLMInstrumentor
from tests.conftest import Signals, wait_for
from tests.fakes import FailingProvider, FakeAnthropic, FakeOpenAI, fallback_router

MESSAGES = [{"role": "user", "content": "route me please"}]
CLAUDE_REQUEST = {"model": "claude", "max_tokens": 50, "messages": [{"role": "user", "content": "bonjour"}]}


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
    # Histograms say which deployment of a group (latency and failures per deployment); the per-key
    # counters do not (a key's series would multiply by the deployments it was routed to).
    deployments = {
        (s.attributes["otel_llm.model_group"], s.attributes.get("otel_llm.deployment.id")) for s in _attempts(signals)
    }
    assert {group for group, _ in deployments} == {"primary", "backup"} and all(d for _, d in deployments), deployments
    points = {
        (p.attributes["otel_llm.model_group"], p.attributes.get("otel_llm.deployment.id"))
        for p in signals.points("gen_ai.client.operation.duration")
    }
    assert points == deployments
    assert all("otel_llm.deployment.id" not in p.attributes for p in signals.points("otel_llm.client.requests"))


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


def _one_attempt_router_request(signals: Signals, name: str) -> None:
    """One Router span over one attempt, with the Router's counts."""
    spans = signals.wait_spans(2)
    (parent,) = [s for s in spans if s.kind is SpanKind.INTERNAL]
    (attempt,) = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert parent.name == name
    assert parent.attributes["otel_llm.router.attempts"] == 1
    assert parent.attributes["otel_llm.router.final_model_group"] == attempt.attributes["otel_llm.model_group"]
    assert attempt.parent is not None and attempt.parent.span_id == parent.context.span_id
    assert attempt.attributes["gen_ai.usage.output_tokens"] == 5


def _router(name: str, model: str, api_base: str) -> litellm.Router:
    return litellm.Router(
        model_list=[{"model_name": name, "litellm_params": {"model": model, "api_base": api_base, "api_key": "sk-r"}}]
    )


async def test_router_responses(instrumented: object, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """Router.responses and aresponses (the proxy's /v1/responses) are Router requests too: LiteLLM
    before 1.110 sets them on each Router instance, not on the class."""
    router = _router("resp", "openai/gpt-4o-mini", fake_openai.api_base)
    router.responses(model="resp", input="hello from the responses api")
    _one_attempt_router_request(signals, "chat resp")
    signals.spans_exporter.clear()
    await router.aresponses(model="resp", input="hello again")
    await asyncio.to_thread(_one_attempt_router_request, signals, "chat resp")


async def test_router_anthropic_messages(signals: Signals, fake_anthropic: FakeAnthropic) -> None:
    """Router.aanthropic_messages and anthropic_messages (awaited by the proxy's /v1/messages) are
    Router requests; uninstrument() leaves the Router's own endpoints in place (LiteLLM before 1.110
    sets them on each instance)."""
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    try:
        router = _router("claude", "anthropic/claude-haiku-4-5-20251001", fake_anthropic.api_base)
        endpoints = {name: vars(router).get(name) for name in ("anthropic_messages", "aanthropic_messages")}
        await router.aanthropic_messages(**CLAUDE_REQUEST)
        await asyncio.to_thread(_one_attempt_router_request, signals, "chat claude")
        signals.spans_exporter.clear()
        await router.anthropic_messages(**CLAUDE_REQUEST)
        await asyncio.to_thread(_one_attempt_router_request, signals, "chat claude")
    finally:
        instrumentor.uninstrument()
    assert {name: vars(router).get(name) for name in endpoints} == endpoints
    assert not any(isinstance(getattr(router, name), wrapt.ObjectProxy) for name in endpoints)


async def test_router_made_before_instrumenting(signals: Signals, fake_anthropic: FakeAnthropic) -> None:
    """A Router made before instrument() still has its attempts traced; where its endpoint wraps the
    unpatched module function (LiteLLM before 1.110) it gets no Router span claiming zero attempts."""
    router = _router("claude", "anthropic/claude-haiku-4-5-20251001", fake_anthropic.api_base)
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    try:
        await router.aanthropic_messages(**CLAUDE_REQUEST)  # any Router span has ended on return
        await asyncio.to_thread(wait_for, lambda: any(s.kind is SpanKind.CLIENT for s in signals.spans()))
    finally:
        instrumentor.uninstrument()
    spans = signals.spans()
    (attempt,) = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert attempt.attributes["gen_ai.usage.output_tokens"] == 5
    for parent in [s for s in spans if s.kind is SpanKind.INTERNAL]:  # LiteLLM >= 1.110 serves it from the class
        assert parent.attributes["otel_llm.router.attempts"] == 1


def _flaky_stream_router(httpserver: HTTPServer) -> tuple[litellm.Router, FakeOpenAI]:
    """A Router (one retry) over a provider whose first chat request gets an HTTP 500: the
    one-shot handler answers before the provider's permanent ones, then is gone."""
    provider = FakeOpenAI(httpserver, "/flaky")
    error = {"error": {"message": "The server had an error", "type": "server_error"}}
    httpserver.expect_oneshot_request("/flaky/chat/completions").respond_with_json(error, status=500)
    router = litellm.Router(
        model_list=[
            {
                "model_name": "flaky",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": provider.api_base, "api_key": "sk-f"},
            }
        ],
        num_retries=1,
        retry_after=0,
    )
    return router, provider


STREAM_OPTIONS = {"stream": True, "stream_options": {"include_usage": True}}


def _check_streamed_retry(capture_mode: str, signals: Signals) -> None:
    """Both attempts of a streamed, retried Router request: the failed one too, under the Router span."""
    signals.wait_spans(3 if capture_mode == "instrumentor" else 2)
    failed, served = _attempts(signals)
    assert failed.attributes["error.type"] == "InternalServerError"
    assert failed.status.status_code is StatusCode.ERROR
    assert served.status.status_code is StatusCode.UNSET
    assert "error.type" not in served.attributes
    assert served.attributes["otel_llm.attempt.retry_index"] == 1
    assert served.attributes["gen_ai.usage.output_tokens"] == 5
    durations = sorted(
        (p.attributes.get("error.type") or "", p.count) for p in signals.points("gen_ai.client.operation.duration")
    )
    assert durations == [("", 1), ("InternalServerError", 1)]
    if capture_mode == "instrumentor":
        (parent,) = [s for s in signals.spans() if s.kind is SpanKind.INTERNAL]
        assert parent.attributes["otel_llm.router.attempts"] == 2
        assert parent.attributes["otel_llm.router.retries"] == 1
        for attempt in (failed, served):
            assert attempt.parent is not None and attempt.parent.span_id == parent.context.span_id


async def test_router_async_streamed_retry(capture_mode: str, signals: Signals, httpserver: HTTPServer) -> None:
    """A streamed attempt that fails with a 500 and is retried keeps its span and duration point.

    LiteLLM reports that failure to its callbacks before the exception reaches the attempt's
    wrapper, while the attempt still looks like a stream in flight: the report must finish the
    attempt, not wait for a stream end that never comes.
    """
    router, provider = _flaky_stream_router(httpserver)
    stream = await router.acompletion(model="flaky", messages=MESSAGES, **STREAM_OPTIONS)
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    assert text == provider.reply
    await asyncio.to_thread(_check_streamed_retry, capture_mode, signals)


def test_router_sync_streamed_retry(capture_mode: str, signals: Signals, httpserver: HTTPServer) -> None:
    """The sync Router's streamed retry: the same two attempts, whichever of the wrapper and
    LiteLLM's failure report (on its thread pool) sees the failure first."""
    router, provider = _flaky_stream_router(httpserver)
    stream = router.completion(model="flaky", messages=MESSAGES, **STREAM_OPTIONS)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == provider.reply
    _check_streamed_retry(capture_mode, signals)


GEMINI_CHUNK = {
    "candidates": [{"content": {"parts": [{"text": "hello"}], "role": "model"}, "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
}


def _flaky_gemini_router(httpserver: HTTPServer) -> litellm.Router:
    """A Router (one retry) over Gemini, whose first stream fails as it opens: LiteLLM opens
    Gemini streams lazily, and the Router opens them (fetch_stream) before reading a chunk."""
    path = "/gemini/models/gemini-1.5-flash:streamGenerateContent"
    error = {"error": {"code": 500, "message": "internal", "status": "INTERNAL"}}
    httpserver.expect_oneshot_request(path).respond_with_json(error, status=500)
    httpserver.expect_request(path).respond_with_data(
        f"data: {json.dumps(GEMINI_CHUNK)}\r\n\r\n", content_type="text/event-stream"
    )
    api_base = httpserver.url_for("/gemini")
    return litellm.Router(
        model_list=[
            {
                "model_name": "gemini",
                "litellm_params": {"model": "gemini/gemini-1.5-flash", "api_base": api_base, "api_key": "g-key"},
            }
        ],
        num_retries=1,
        retry_after=0,
    )


def _check_lazy_stream_retry(signals: Signals) -> None:
    signals.wait_spans(3)
    (parent,) = [s for s in signals.spans() if s.kind is SpanKind.INTERNAL]
    assert parent.attributes["otel_llm.router.attempts"] == 2
    failed, served = _attempts(signals)
    assert failed.status.status_code is StatusCode.ERROR and failed.attributes["error.type"]
    assert "otel_llm.span.incomplete" not in failed.attributes
    assert served.status.status_code is StatusCode.UNSET and served.attributes["gen_ai.usage.output_tokens"] == 1
    for attempt in (failed, served):
        assert attempt.parent is not None and attempt.parent.span_id == parent.context.span_id
    errors = sorted(bool(p.attributes.get("error.type")) for p in signals.points("gen_ai.client.operation.duration"))
    assert errors == [False, True]


async def test_router_lazy_stream_failing_as_it_opens(
    instrumented: LiteLLMInstrumentor, signals: Signals, httpserver: HTTPServer
) -> None:
    """A Gemini stream whose opening fails (HTTP 500) and is retried: the failed attempt has its span."""
    stream = await _flaky_gemini_router(httpserver).acompletion(model="gemini", messages=MESSAGES, stream=True)
    assert "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]) == "hello"
    await asyncio.to_thread(_check_lazy_stream_retry, signals)


def test_router_sync_lazy_stream_failing_as_it_opens(
    instrumented: LiteLLMInstrumentor, signals: Signals, httpserver: HTTPServer
) -> None:
    """The same through the sync Router (fetch_sync_stream)."""
    stream = _flaky_gemini_router(httpserver).completion(model="gemini", messages=MESSAGES, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "hello"
    _check_lazy_stream_retry(signals)
