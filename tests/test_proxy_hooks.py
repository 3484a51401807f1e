"""The proxy callback's request spans, driven in-process with the real LiteLLM Router.

Recent FastAPI versions trace requests themselves (the e2e proxy tests see that span): a
SERVER span opened as current by the test stands in for it here. Without one, the proxy
callback opens its own request span.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import litellm
import pytest
from fastapi import HTTPException
from litellm.proxy._types import UserAPIKeyAuth
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from pytest_httpserver import HTTPServer

from otel_llm import LiteLLMInstrumentor
from otel_llm._capture.payload import build_record
from otel_llm._config import Config
from otel_llm._proxy.pass_through import failure_payload
from otel_llm.proxy import ProxyCallback  # importing the module has no side effect
from tests.conftest import Signals
from tests.fakes import FailingProvider, FakeOpenAI, fallback_router

TRACE, PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


@contextmanager
def _instrumented(signals: Signals) -> Iterator[ProxyCallback]:
    """A proxy callback on the test's providers (settings from the environment), LiteLLM instrumented with it."""
    callback = ProxyCallback(signals.tracer_provider, signals.meter_provider, setup=False)
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(callback=callback)
    try:
        yield callback
    finally:
        instrumentor.uninstrument()


@pytest.fixture
def proxy_callback(signals: Signals) -> Iterator[ProxyCallback]:
    with _instrumented(signals) as callback:
        yield callback


def _router(fake: FakeOpenAI) -> litellm.Router:
    return litellm.Router(
        model_list=[
            {
                "model_name": "gpt-main",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": fake.api_base, "api_key": "sk-p"},
            }
        ]
    )


def _request(route: str = "/v1/chat/completions") -> tuple[UserAPIKeyAuth, dict[str, object]]:
    key = UserAPIKeyAuth(api_key="sk-virtual-key-123456", key_alias="agent-x", team_id="team-x", request_route=route)
    data: dict[str, object] = {
        "litellm_call_id": "request-1",
        "proxy_server_request": {
            "headers": {"traceparent": f"00-{TRACE}-{PARENT}-01", "authorization": "Bearer sk-no"}
        },
        "metadata": {},
    }
    return key, data


async def test_request_span_continues_the_client_trace(
    proxy_callback: ProxyCallback, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """pre-call opens a SERVER span in the client's trace; the Router and attempt spans nest under it."""
    key, data = _request()
    await proxy_callback.async_pre_call_hook(key, None, data, "acompletion")
    response = await _router(fake_openai).acompletion(
        model="gpt-main", messages=[{"role": "user", "content": "hi"}], metadata=data["metadata"]
    )
    await proxy_callback.async_post_call_success_hook(data, key, response)
    spans = await asyncio.to_thread(signals.wait_spans, 3)
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    (router,) = [s for s in spans if s.kind is SpanKind.INTERNAL]
    (attempt,) = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert server.name == "POST /v1/chat/completions"
    assert format(server.context.trace_id, "032x") == TRACE
    assert server.parent is not None and format(server.parent.span_id, "016x") == PARENT
    assert router.parent is not None and router.parent.span_id == server.context.span_id
    assert attempt.parent is not None and attempt.parent.span_id == router.context.span_id
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["otel_llm.key.alias"] == "agent-x"
    assert "sk-virtual-key-123456" not in repr(dict(server.attributes))


async def test_failed_request_span(proxy_callback: ProxyCallback, signals: Signals) -> None:
    """The failure hook ends the request span with the client's status code and error.type."""
    key, data = _request()
    await proxy_callback.async_pre_call_hook(key, None, data, "acompletion")
    error = litellm.RateLimitError("slow down", llm_provider="openai", model="gpt-4o-mini")
    await proxy_callback.async_post_call_failure_hook(data, error, key)
    (server,) = await asyncio.to_thread(signals.wait_spans, 1)
    assert server.attributes["http.response.status_code"] == 429
    assert server.attributes["error.type"] == "RateLimitError"
    assert server.status.status_code is StatusCode.UNSET  # a 4xx is the client's, not the server's, error


async def test_streamed_request_span_ends_with_the_stream(proxy_callback: ProxyCallback, signals: Signals) -> None:
    """The streaming hook passes every chunk through and ends the request span at the end."""
    key, data = _request()
    await proxy_callback.async_pre_call_hook(key, None, data, "acompletion")

    async def chunks() -> object:
        for i in range(3):
            yield i

    seen = [c async for c in proxy_callback.async_post_call_streaming_iterator_hook(key, chunks(), data)]
    assert seen == [0, 1, 2]
    (server,) = await asyncio.to_thread(signals.wait_spans, 1)
    assert server.attributes["http.response.status_code"] == 200


def _kinds(spans: list[ReadableSpan]) -> dict[SpanKind, list[ReadableSpan]]:
    by_kind: dict[SpanKind, list[ReadableSpan]] = {kind: [] for kind in SpanKind}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        by_kind[span.kind].append(span)
    return by_kind


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_router_request_is_folded_into_the_server_span(
    proxy_callback: ProxyCallback, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """By default the Router's counts go on the request's SERVER span, one span fewer per request;
    a second Router request in the same HTTP request gets a Router span of its own."""
    router = _router(fake_openai)
    messages = [{"role": "user", "content": "hi"}]
    server_tracer = signals.tracer_provider.get_tracer("fastapi")
    with server_tracer.start_as_current_span("POST /v1/chat/completions", kind=SpanKind.SERVER):
        await router.acompletion(model="gpt-main", messages=messages)
        await router.acompletion(model="gpt-main", messages=messages)
    spans = _kinds(await asyncio.to_thread(signals.wait_spans, 4))
    (server,) = spans[SpanKind.SERVER]
    (second_router,) = spans[SpanKind.INTERNAL]
    first, second = spans[SpanKind.CLIENT]
    assert _parent_id(first) == server.context.span_id
    assert _parent_id(second_router) == server.context.span_id
    assert _parent_id(second) == second_router.context.span_id
    assert server.attributes["otel_llm.model_group"] == "gpt-main"
    assert server.attributes["otel_llm.router.attempts"] == 1
    assert server.attributes["otel_llm.router.final_model_group"] == "gpt-main"
    assert second_router.attributes["otel_llm.router.attempts"] == 1
    assert server.status.status_code is StatusCode.UNSET  # the HTTP request's status is not the Router's to set


async def test_folded_router_request_keeps_its_fallback_on_the_server_span(
    proxy_callback: ProxyCallback, signals: Signals, fake_openai: FakeOpenAI, httpserver: HTTPServer
) -> None:
    """A fallback in a folded Router request: the counts and the event are on the SERVER span."""
    primary = FailingProvider(httpserver, "/broken", 500)
    router = fallback_router(primary, fake_openai)
    server_tracer = signals.tracer_provider.get_tracer("fastapi")
    with server_tracer.start_as_current_span("POST /v1/chat/completions", kind=SpanKind.SERVER):
        await router.acompletion(model="primary", messages=[{"role": "user", "content": "hi"}])
    spans = _kinds(await asyncio.to_thread(signals.wait_spans, 4))
    (server,) = spans[SpanKind.SERVER]
    assert not spans[SpanKind.INTERNAL]
    *failed, served = spans[SpanKind.CLIENT]
    assert {_parent_id(span) for span in [*failed, served]} == {server.context.span_id}
    assert len(failed) == 2 and all(span.attributes["error.type"] for span in failed)
    assert "error.type" not in served.attributes
    assert server.attributes["otel_llm.router.attempts"] == 3
    assert server.attributes["otel_llm.router.retries"] == 1
    assert server.attributes["otel_llm.router.fallbacks"] == 1
    assert server.attributes["otel_llm.router.final_model_group"] == "backup"
    assert [event.name for event in server.events] == ["otel_llm.retry", "otel_llm.fallback"]
    assert primary.hits == 2


async def test_router_span_on_request(
    monkeypatch: pytest.MonkeyPatch, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """OTEL_LLM_PROXY_ROUTER_SPAN=true: the Router request is a span of its own under the SERVER span."""
    monkeypatch.setenv("OTEL_LLM_PROXY_ROUTER_SPAN", "true")
    with _instrumented(signals):
        server_tracer = signals.tracer_provider.get_tracer("fastapi")
        with server_tracer.start_as_current_span("POST /v1/chat/completions", kind=SpanKind.SERVER):
            await _router(fake_openai).acompletion(model="gpt-main", messages=[{"role": "user", "content": "hi"}])
        spans = _kinds(await asyncio.to_thread(signals.wait_spans, 3))
    (server,), (router,), (attempt,) = spans[SpanKind.SERVER], spans[SpanKind.INTERNAL], spans[SpanKind.CLIENT]
    assert _parent_id(router) == server.context.span_id and _parent_id(attempt) == router.context.span_id
    assert router.attributes["otel_llm.router.attempts"] == 1
    assert "otel_llm.router.attempts" not in server.attributes


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(529, "InternalServerError"), (503, "ServiceUnavailableError"), (429, "RateLimitError"), (418, "418")],
)
def test_pass_through_failure_payload(status: int, error_type: str) -> None:
    """A pass-through provider error (request data and exception as LiteLLM hands them to the
    failure hook; the proxy e2e tests exercise the real thing) becomes a failed chat record of the
    route's provider; other failures and refusals before any provider call do not."""
    user = SimpleNamespace(request_route="/anthropic/v1/messages", token="hashed", key_alias="agent-a", team_id="t")
    started = datetime.now(timezone.utc) - timedelta(seconds=2)
    request = {
        "call_type": "pass_through_endpoint",
        "litellm_call_id": "pt-1",
        "model": "claude-overloaded",
        "start_time": started,
        "stream": True,
        "passthrough_logging_payload": {"url": "https://api.anthropic.com/v1/messages?beta=true"},
    }
    payload = failure_payload(request, HTTPException(status_code=status), user)
    assert payload is not None
    record = build_record(payload, request, Config())
    assert (record.operation, record.provider, record.request_model) == ("chat", "anthropic", "claude-overloaded")
    assert record.error_type == error_type and record.error_status_code == status and record.stream is True
    assert record.attribution.key_alias == "agent-a" and record.server_address == "api.anthropic.com"
    assert record.duration_s is not None and 1.5 < record.duration_s < 60
    refused = {**request, "litellm_no_upstream_llm_call": True}
    assert failure_payload(refused, HTTPException(status_code=status), user) is None
    assert failure_payload({**request, "call_type": "acompletion"}, HTTPException(status_code=status), user) is None
    assert failure_payload(request, ValueError("no status"), user) is None


def test_litellm_streams_straight_through_unless_otel_llm_opens_request_spans(
    signals: Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LiteLLM passes every streamed chunk through each callback class that defines the streaming
    iterator hook (and guarded layers of its own), and reads which hooks a callback defines from its
    class's own dict. Behind FastAPI's SERVER span the proxy callback keeps a class without that hook;
    one that opens request spans of its own (here: setup=False, no FastAPI) gets it, and every other
    hook ProxyCallback defines stays visible to LiteLLM in both."""
    from otel_llm._proxy.callback import _OwnRequestSpans  # the class under test

    own = ProxyCallback(signals.tracer_provider, signals.meter_provider, setup=False)
    assert type(own) is _OwnRequestSpans
    stream_hook = "async_post_call_streaming_iterator_hook"
    hooks = {name for name in vars(ProxyCallback) if name.startswith("async_")}
    assert stream_hook not in hooks and "async_pre_call_hook" in hooks
    assert hooks | {stream_hook} <= set(vars(_OwnRequestSpans))
    try:
        from litellm.proxy.utils import ProxyLogging  # the proxy's own reading of it
    except ImportError:  # the proxy extra is not installed
        return
    if not hasattr(ProxyLogging, "callback_capabilities"):  # LiteLLM before the hook fast path
        return
    plain = ProxyCallback.__new__(ProxyCallback)  # the class behind FastAPI's SERVER span: only its type is read
    for callback, streams_through_it in ((plain, False), (own, True)):
        monkeypatch.setattr(litellm, "callbacks", [callback])
        ProxyLogging._callback_capabilities_cache.clear()  # keyed by the list's ids
        capabilities = ProxyLogging.callback_capabilities()
        assert capabilities.has_pre_call_override
        assert bool(capabilities.iterator_overrides) is streams_through_it
    ProxyLogging._callback_capabilities_cache.clear()
