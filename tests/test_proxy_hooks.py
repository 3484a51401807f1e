"""The proxy callback's own request span, for proxies without server instrumentation.

Recent FastAPI versions trace requests themselves (the e2e proxy tests see that span);
this drives the proxy hooks in-process, with the real LiteLLM Router, where no server
span exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import litellm
import pytest
from litellm.proxy._types import UserAPIKeyAuth
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm import LiteLLMInstrumentor
from otel_llm.proxy import ProxyCallback  # importing the module has no side effect
from tests.conftest import Signals
from tests.fakes import FakeOpenAI

TRACE, PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


@pytest.fixture
def proxy_callback(signals: Signals) -> Iterator[ProxyCallback]:
    callback = ProxyCallback(signals.tracer_provider, signals.meter_provider, setup=False)
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(callback=callback)
    yield callback
    instrumentor.uninstrument()


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
