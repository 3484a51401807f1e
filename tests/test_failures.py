"""Provider failures: failed attempt spans, error.type, ERROR status, and duration metrics."""

from __future__ import annotations

import litellm
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from pytest_httpserver import HTTPServer

from tests.conftest import Signals
from tests.fakes import FailingProvider, FakeOpenAI

MESSAGES = [{"role": "user", "content": "this call will fail"}]


@pytest.mark.parametrize(
    ("status", "error_type"), [(429, "RateLimitError"), (500, "InternalServerError")], ids=["429", "500"]
)
def test_http_error(capture_mode: str, signals: Signals, httpserver: HTTPServer, status: int, error_type: str) -> None:
    """An HTTP error from the provider gives a failed CLIENT span and a duration point with error.type."""
    provider = FailingProvider(httpserver, f"/fail{status}", status)
    with pytest.raises(getattr(litellm, error_type)):
        litellm.completion(
            model="openai/gpt-4o-mini", messages=MESSAGES, api_base=provider.api_base, api_key="sk-x", num_retries=0
        )
    (span,) = signals.wait_spans(1)
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == error_type
    assert span.attributes["gen_ai.provider.name"] == "openai"
    # LiteLLM reports 0 tokens and a 0.0 cost for the failed call: not known, so not on the span.
    for unknown in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "otel_llm.usage.cost"):
        assert unknown not in span.attributes, unknown
    assert "otel_llm.usage.source" not in span.attributes and "otel_llm.cost.source" not in span.attributes
    (point,) = signals.points("gen_ai.client.operation.duration")
    assert point.count == 1
    assert point.attributes["error.type"] == error_type
    assert not signals.points("gen_ai.client.token.usage")
    assert not signals.points("otel_llm.client.cost")


def test_timeout(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """A client-side timeout is a failed span with error.type Timeout."""
    fake_openai.delay_s = 1.0
    with pytest.raises(litellm.Timeout):
        litellm.completion(
            model="openai/gpt-4o-mini",
            messages=MESSAGES,
            api_base=fake_openai.api_base,
            api_key="sk-x",
            timeout=0.2,
            num_retries=0,
        )
    (span,) = signals.wait_spans(1)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "Timeout"
    (point,) = signals.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "Timeout"
    assert 0.15 <= point.sum < 1.0


async def test_async_error(capture_mode: str, signals: Signals, httpserver: HTTPServer) -> None:
    """Async failures are reported like sync ones."""
    import asyncio

    provider = FailingProvider(httpserver, "/afail", 500)
    with pytest.raises(litellm.InternalServerError):
        await litellm.acompletion(
            model="openai/gpt-4o-mini", messages=MESSAGES, api_base=provider.api_base, api_key="sk-x", num_retries=0
        )
    (span,) = await asyncio.to_thread(signals.wait_spans, 1)
    assert span.attributes["error.type"] == "InternalServerError"
    assert span.status.status_code is StatusCode.ERROR


@pytest.mark.parametrize(
    "key",
    [
        "sk-live-abcdefghijklmnop123456",
        # Shapes no pattern knows: removed because they are this call's key.
        "zq7-Unknown-Provider-Key-Shape-0001",
        "plainpassphrase-with-no-shape",
    ],
)
def test_error_message_is_scrubbed(key: str, capture_mode: str, signals: Signals, httpserver: HTTPServer) -> None:
    """A provider error echoing the API key never exports the key, whatever the key looks like."""
    httpserver.expect_request("/leaky/chat/completions").respond_with_json(
        {"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error"}}, status=401
    )
    with pytest.raises(litellm.AuthenticationError):
        litellm.completion(
            model="openai/gpt-4o-mini",
            messages=MESSAGES,
            api_base=httpserver.url_for("/leaky"),
            api_key=key,
            num_retries=0,
        )
    (span,) = signals.wait_spans(1)
    assert span.attributes["error.type"] == "AuthenticationError"
    assert key not in str(span.status.description)
    assert key not in repr(dict(span.attributes))
    assert "Incorrect API key provided" in str(span.status.description)


def _refusal(status: str, error_class: str, alias: str | None) -> dict[str, object]:
    """The kwargs LiteLLM's proxy hands failure callbacks for a request it refused before any
    provider call (shape from LiteLLM 1.102–1.110; the proxy e2e tests exercise the real thing)."""
    return {
        "litellm_call_id": f"refused-{status}",
        "litellm_no_upstream_llm_call": True,
        "standard_logging_object": {
            "litellm_call_id": f"refused-{status}",
            "call_type": "acompletion",
            "status": "failure",
            "model": "gpt-main",
            "custom_llm_provider": "openai",
            "error_information": {"error_code": status, "error_class": error_class, "error_message": "refused"},
            "metadata": {"user_api_key_alias": alias, "user_api_key_hash": "hashed-" + status},
        },
    }


async def test_proxy_refusals_are_counted_not_traced(callback_only: object, signals: Signals) -> None:
    """A request the proxy refused (LiteLLM's no-upstream-call mark) is no failed LLM call: no span,
    no duration point; one otel_llm.proxy.refusals point, without key attribution when the key was
    not verified (401/403)."""
    callback = callback_only
    await callback.async_log_failure_event(_refusal("401", "HTTPException", None), None, None, None)
    await callback.async_log_failure_event(_refusal("429", "HTTPException", "agent-a"), None, None, None)
    await callback.async_log_failure_event(_refusal("x", "BudgetExceededError", "agent-a"), None, None, None)
    assert signals.spans() == []
    assert signals.points("gen_ai.client.operation.duration") == []
    points = {
        (
            p.attributes["error.type"],
            p.attributes.get("http.response.status_code"),
            p.attributes.get("otel_llm.key.alias"),
        ): (
            p.value,
            "otel_llm.key.hash" in p.attributes,
        )
        for p in signals.points("otel_llm.proxy.refusals")
    }
    assert points == {
        ("HTTPException", 401, None): (1, False),
        ("HTTPException", 429, "agent-a"): (1, True),
        ("BudgetExceededError", None, "agent-a"): (1, True),  # a status that is not one is left out
    }
    assert all(p.attributes["gen_ai.operation.name"] == "chat" for p in signals.points("otel_llm.proxy.refusals"))
