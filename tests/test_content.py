"""Prompt and completion content: off by default, opt-in per the conventions' modes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import litellm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_llm import LiteLLMInstrumentor
from otel_llm._config import ContentMode, resolve
from tests.conftest import Signals, wait_for
from tests.fakes import FakeAnthropic, FakeOpenAI

SECRET_PROMPT = "my private question about zebras"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": SECRET_PROMPT},
]
CONTENT_KEYS = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"}


@pytest.fixture
def instrument_with(signals: Signals) -> Iterator[object]:
    instrumentors: list[LiteLLMInstrumentor] = []

    def start(mode: str | None) -> None:
        instrumentor = LiteLLMInstrumentor()
        instrumentor.instrument(
            tracer_provider=signals.tracer_provider,
            meter_provider=signals.meter_provider,
            logger_provider=signals.logger_provider,
            capture_content=mode,
        )
        instrumentors.append(instrumentor)

    yield start
    for instrumentor in instrumentors:
        instrumentor.uninstrument()


def _call_and_get(signals: Signals, fake: FakeOpenAI) -> tuple[dict[str, object], list[object]]:
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, api_base=fake.api_base, api_key="sk-x")
    (span,) = signals.wait_spans(1)
    return dict(span.attributes), _content_events(signals)


def _content_events(signals: Signals) -> list[Any]:
    """The log records but the usage records (content-free, one per call, tested in test_tenants.py)."""
    logs = [r.log_record for r in signals.log_exporter.get_finished_logs()]
    return [r for r in logs if r.event_name != "otel_llm.usage"]


def _without_content_and_ids(attrs: dict[str, object]) -> dict[str, object]:
    volatile = {"gen_ai.response.id", "otel_llm.litellm.call_id"}
    return {k: v for k, v in attrs.items() if k not in CONTENT_KEYS | volatile}


def test_no_content_by_default(instrument_with: object, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """With the variable unset, no message text appears in spans or events."""
    instrument_with(None)  # type: ignore[operator]
    attrs, events = _call_and_get(signals, fake_openai)
    assert not CONTENT_KEYS & attrs.keys()
    assert SECRET_PROMPT not in repr(attrs) and fake_openai.reply not in repr(attrs)
    assert events == []


def test_span_only(instrument_with: object, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """SPAN_ONLY puts structured messages on the span and emits no event."""
    instrument_with("SPAN_ONLY")  # type: ignore[operator]
    attrs, events = _call_and_get(signals, fake_openai)
    inputs = json.loads(str(attrs["gen_ai.input.messages"]))
    assert inputs == [
        {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": SECRET_PROMPT}]},
    ]
    outputs = json.loads(str(attrs["gen_ai.output.messages"]))
    assert outputs == [
        {"role": "assistant", "parts": [{"type": "text", "content": fake_openai.reply}], "finish_reason": "stop"}
    ]
    assert events == []


async def test_a_separate_system_prompt_is_the_system_message(
    instrument_with: object, signals: Signals, fake_anthropic: FakeAnthropic
) -> None:
    """Anthropic's `system` (as Claude Code sends it through /v1/messages) arrives inside LiteLLM's
    history: the first input message, role `system`; no gen_ai.system_instructions besides."""
    instrument_with("SPAN_ONLY")  # type: ignore[operator]
    await litellm.anthropic_messages(
        model="anthropic/claude-haiku-4-5-20251001",
        system="You are a careful reviewer.",
        messages=[{"role": "user", "content": SECRET_PROMPT}],
        max_tokens=50,
        api_base=fake_anthropic.api_base,
        api_key="sk-ant-test",
    )
    (span,) = await asyncio.to_thread(signals.wait_spans, 1)
    inputs = json.loads(str(span.attributes["gen_ai.input.messages"]))
    assert inputs[0] == {"role": "system", "parts": [{"type": "text", "content": "You are a careful reviewer."}]}
    assert inputs[1]["role"] == "user"
    assert "gen_ai.system_instructions" not in span.attributes


def test_event_only(instrument_with: object, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """EVENT_ONLY emits one inference-details event, correlated with the span, and keeps the span clean."""
    instrument_with("EVENT_ONLY")  # type: ignore[operator]
    attrs, _ = _call_and_get(signals, fake_openai)
    assert not CONTENT_KEYS & attrs.keys()
    (event,) = wait_for(lambda: _content_events(signals))
    assert event.event_name == "gen_ai.client.inference.operation.details"
    # Structured, as the conventions require on events (a JSON string only on spans).
    assert list(event.attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": ({"type": "text", "content": "You are terse."},)},
        {"role": "user", "parts": ({"type": "text", "content": SECRET_PROMPT},)},
    ]
    (output,) = event.attributes["gen_ai.output.messages"]
    assert output["finish_reason"] == "stop" and output["parts"][0]["content"] == fake_openai.reply
    (span,) = signals.spans()
    assert event.trace_id == span.context.trace_id and event.span_id == span.context.span_id
    # The span's conventions attributes ride along (the event stands alone); otel-llm's own do not.
    for key in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.usage.input_tokens"):
        assert event.attributes[key] == span.attributes[key], key
    assert not [key for key in event.attributes if key.startswith("otel_llm.")]
    # And it encodes for OTLP as nested values (kvlist / array), not strings.
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

    encoded = encode_logs([r for r in signals.log_exporter.get_finished_logs() if r.log_record is event])
    (record,) = encoded.resource_logs[0].scope_logs[0].log_records
    (messages,) = [a.value for a in record.attributes if a.key == "gen_ai.input.messages"]
    assert messages.WhichOneof("value") == "array_value"
    assert messages.array_value.values[1].WhichOneof("value") == "kvlist_value"


def test_non_content_attributes_identical_in_every_mode(signals: Signals, fake_openai: FakeOpenAI) -> None:
    """All non-content attributes are the same whatever the content mode."""
    seen = []
    for mode in ("NO_CONTENT", "SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT"):
        instrumentor = LiteLLMInstrumentor()
        instrumentor.instrument(
            tracer_provider=signals.tracer_provider,
            meter_provider=signals.meter_provider,
            logger_provider=signals.logger_provider,
            capture_content=mode,
        )
        try:
            signals.spans_exporter.clear()
            attrs, _ = _call_and_get(signals, fake_openai)
        finally:
            instrumentor.uninstrument()
        seen.append(_without_content_and_ids(attrs))
    assert all(s == seen[0] for s in seen)


def test_content_is_size_capped(signals: Signals, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    """Captured content stays valid JSON under OTEL_LLM_CONTENT_MAX_LENGTH."""
    monkeypatch.setenv("OTEL_LLM_CONTENT_MAX_LENGTH", "300")
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(
        tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider, capture_content="SPAN_ONLY"
    )
    try:
        litellm.completion(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "word " * 2000}],
            api_base=fake_openai.api_base,
            api_key="sk-x",
        )
        (span,) = signals.wait_spans(1)
    finally:
        instrumentor.uninstrument()
    text = str(span.attributes["gen_ai.input.messages"])
    assert len(text) <= 300
    ((message),) = json.loads(text)
    assert message["role"] == "user"  # the prompt, shortened: not replaced by a placeholder
    content = message["parts"][0]["content"]
    assert content.startswith("word word") and content.endswith("[truncated]") and len(content) > 200


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(  # short, or long (a snippet repeated), so the cap is often exceeded
        st.builds(lambda snippet, times: snippet * times, st.text(max_size=40), st.integers(0, 400)),
        min_size=1,
        max_size=12,
    ),
    max_length=st.integers(min_value=400, max_value=20000),
)
def test_capped_content_fits_stays_valid_and_keeps_every_message(texts: list[str], max_length: int) -> None:
    """Any messages (quotes, newlines, control characters, any script) fit the cap as valid JSON,
    every message kept with its role when their skeleton fits, each part cut evenly."""
    from otel_llm._capture.content import _cap

    messages: list[dict[str, object]] = [
        {"role": ("user", "assistant")[i % 2], "parts": [{"type": "text", "content": t}]} for i, t in enumerate(texts)
    ]
    original = json.dumps(messages, ensure_ascii=False)
    text = _cap(json.loads(original), max_length)
    assert len(text) <= max_length
    capped = json.loads(text)
    if len(original) <= max_length:
        assert capped == messages
        return
    skeleton = json.dumps([{**m, "parts": [{"type": "text", "content": "…[truncated]"}]} for m in messages])
    if len(skeleton) * 2 <= max_length:
        assert [m["role"] for m in capped] == [m["role"] for m in messages]
        for before, after in zip(texts, capped, strict=True):
            content = after["parts"][0]["content"]
            assert content == before or (content.endswith("[truncated]") and before.startswith(content[:-12]))


@pytest.mark.parametrize(
    ("raw", "mode"),
    [("", ContentMode.NO_CONTENT), ("true", ContentMode.SPAN_ONLY), ("span_and_event", ContentMode.SPAN_AND_EVENT)],
)
def test_content_mode_parsing(raw: str, mode: ContentMode) -> None:
    """The variable accepts the conventions' enum (any case) and the older boolean."""
    assert resolve({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": raw}).content_mode is mode


def _image_parts(url: object, kind: str = "image_url") -> list[dict[str, object]]:
    from otel_llm._capture.content import input_messages

    item: dict[str, object] = {"type": kind, "image_url": url if kind == "input_image" else {"url": url}}
    messages = input_messages([{"role": "user", "content": [item]}])
    parts = messages[0]["parts"]
    assert isinstance(parts, list)
    return parts


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png;base64,iVBORw0KGgoSECRETPIXELS",
        "DATA:image/png;base64,iVBORw0KGgoSECRETPIXELS",
        "Data:image/png;base64,iVBORw0KGgoSECRETPIXELS",
        " data:image/png;base64,iVBORw0KGgoSECRETPIXELS",
        "\n\tdata:image/png;base64,iVBORw0KGgoSECRETPIXELS",
        "\x00data:image/png;base64,iVBORw0KGgoSECRETPIXELS",
        "da\tta:image/png;base64,iVBORw0KGgoSECRETPIXELS",
        "\u3000data:image/png;base64,iVBORw0KGgoSECRETPIXELS",
        "",
        "   ",
    ],
)
@pytest.mark.parametrize("kind", ["image_url", "input_image"])
def test_inline_images_are_never_copied(url: str, kind: str) -> None:
    """Inline (data:) images, in any case or after whitespace, leave only a placeholder."""
    assert _image_parts(url, kind) == [{"type": "uri", "modality": "image"}]


@pytest.mark.parametrize(
    ("url", "recorded"),
    [
        (
            "https://bucket.s3.amazonaws.com/x.png?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101"
            "&X-Amz-Signature=PresignedSig0123456789abcdef&X-Amz-Security-Token=SessTokSecret",
            "https://bucket.s3.amazonaws.com/x.png",
        ),
        (
            "https://acct.blob.core.windows.net/c/x.png?sv=2022&sig=AzureSasSig%2Babc%3D",
            "https://acct.blob.core.windows.net/c/x.png",
        ),
        ("https://user:ImgPassw0rd@host:8443/x.png", "https://host:8443/x.png"),
        ("  https://example.com/cat.png  ", "https://example.com/cat.png"),
        ("https://example.com/cat.png", "https://example.com/cat.png"),
    ],
)
def test_image_urls_are_recorded_without_credentials(url: str, recorded: str) -> None:
    """Image URLs lose userinfo and query strings (pre-signed S3, Azure SAS), keep host and path."""
    assert _image_parts(url) == [{"type": "uri", "modality": "image", "uri": recorded}]


def test_captured_messages_carry_no_image_secrets() -> None:
    """End to end through capture(): nothing of a signed URL's query or an inline image is kept."""
    from otel_llm._capture.content import capture

    content = capture(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://b.s3.amazonaws.com/x.png?X-Amz-Signature=SIGSECRET"},
                    },
                    {"type": "image_url", "image_url": {"url": "DATA:image/png;base64,PIXELSECRET"}},
                ],
            }
        ],
        None,
        100_000,
    )
    assert content.input_messages is not None
    assert "SIGSECRET" not in content.input_messages and "PIXELSECRET" not in content.input_messages
    assert "what is this?" in content.input_messages and "https://b.s3.amazonaws.com/x.png" in content.input_messages
