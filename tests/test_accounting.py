"""When tokens or cost are not what the provider billed, the span says so and a counter counts it."""

from __future__ import annotations

import litellm

from tests.conftest import Signals
from tests.fakes import FakeOpenAI

MESSAGES = [{"role": "user", "content": "count my tokens please"}]


def _issues(signals: Signals) -> dict[str, int]:
    return {
        p.attributes["otel_llm.accounting.issue"]: p.value for p in signals.points("otel_llm.client.accounting_issues")
    }


def test_unpriced_model(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """A model LiteLLM cannot price has cost 0 marked 'unpriced' and counted."""
    fake_openai.model = "my-private-finetune"
    litellm.completion(
        model="openai/my-private-finetune", messages=MESSAGES, api_base=fake_openai.api_base, api_key="sk-x"
    )
    (span,) = signals.wait_spans(1)
    assert span.attributes["otel_llm.usage.cost"] == 0.0
    assert span.attributes["otel_llm.cost.source"] == "unpriced"
    assert span.attributes["otel_llm.usage.source"] == "provider"
    assert _issues(signals) == {"cost_unpriced": 1}


def test_stream_without_usage_chunk(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """A stream whose provider sent no usage chunk is never reported as provider-billed usage."""
    stream = litellm.completion(
        model="openai/gpt-4o-mini", messages=MESSAGES, api_base=fake_openai.api_base, api_key="sk-x", stream=True
    )
    for _ in stream:
        pass
    (span,) = signals.wait_spans(1)
    source = span.attributes["otel_llm.usage.source"]
    tokens = span.attributes.get("gen_ai.usage.input_tokens", 0) + span.attributes.get("gen_ai.usage.output_tokens", 0)
    # LiteLLM counts the tokens itself when its tokenizer is available, else reports none.
    assert source == ("estimated" if tokens else "missing")
    assert _issues(signals) == {f"usage_{source}": 1}


def test_response_without_usage(capture_mode: str, signals: Signals, httpserver: object) -> None:
    """A provider response with no usage block is marked 'missing' and counted."""
    httpserver.expect_request("/nousage/chat/completions").respond_with_json(  # type: ignore[attr-defined]
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        }
    )
    litellm.completion(
        model="openai/gpt-4o-mini",
        messages=MESSAGES,
        api_base=httpserver.url_for("/nousage"),  # type: ignore[attr-defined]
        api_key="sk-x",
    )
    (span,) = signals.wait_spans(1)
    assert span.attributes["otel_llm.usage.source"] in ("missing", "estimated")
    assert sum(_issues(signals).values()) >= 1


def test_billed_call_has_no_issue(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """A priced call with provider usage records no accounting issue."""
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, api_base=fake_openai.api_base, api_key="sk-x")
    signals.wait_spans(1)
    assert _issues(signals) == {}
