"""Every call type LiteLLM routes gets a correctly named span, with tokens and cost where reported."""

from __future__ import annotations

import asyncio
import json

import litellm
from opentelemetry.trace import SpanKind
from pytest_httpserver import HTTPServer

from tests.conftest import Signals
from tests.fakes import FakeAnthropic, FakeOpenAI


def test_embeddings(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """Embeddings: operation 'embeddings', input tokens only, dimension count, no output tokens."""
    litellm.embedding(
        model="openai/text-embedding-3-small",
        input=["one two three", "four five"],
        api_base=fake_openai.api_base,
        api_key="sk-x",
    )
    (span,) = signals.wait_spans(1)
    assert span.name == "embeddings text-embedding-3-small"
    assert span.kind is SpanKind.CLIENT
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.usage.input_tokens"] == 5
    assert span.attributes.get("gen_ai.usage.output_tokens", 0) == 0
    assert span.attributes["otel_llm.usage.cost"] > 0
    tokens = signals.points("gen_ai.client.token.usage")
    assert [(p.attributes["gen_ai.token.type"], p.sum) for p in tokens] == [("input", 5)]


async def test_async_embeddings(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """aembedding is one span (LiteLLM calling embedding inside does not add a second)."""
    await litellm.aembedding(
        model="openai/text-embedding-3-small", input="one two", api_base=fake_openai.api_base, api_key="sk-x"
    )
    spans = await asyncio.to_thread(signals.wait_spans, 1)
    assert [s.name for s in spans] == ["embeddings text-embedding-3-small"]


def test_text_completion(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """text_completion: operation 'text_completion' with the provider's tokens and finish reason."""
    litellm.text_completion(
        model="text-completion-openai/gpt-3.5-turbo-instruct",
        prompt="complete this sentence now",
        api_base=fake_openai.api_base,
        api_key="sk-x",
        max_tokens=7,
    )
    (span,) = signals.wait_spans(1)
    assert span.name == "text_completion gpt-3.5-turbo-instruct"
    assert span.attributes["gen_ai.operation.name"] == "text_completion"
    assert span.attributes["gen_ai.provider.name"] == "openai"
    assert span.attributes["gen_ai.usage.input_tokens"] == 4
    assert span.attributes["gen_ai.usage.output_tokens"] == 5
    assert span.attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert span.attributes["gen_ai.request.max_tokens"] == 7


def test_anthropic_chat(capture_mode: str, signals: Signals, fake_anthropic: FakeAnthropic) -> None:
    """An Anthropic-format provider maps to gen_ai.provider.name 'anthropic' with cache-read tokens."""
    litellm.completion(
        model="anthropic/claude-haiku-4-5-20251001",
        messages=[{"role": "user", "content": "hello anthropic"}],
        api_base=fake_anthropic.api_base,
        api_key="sk-ant-test",
        max_tokens=50,
    )
    (span,) = signals.wait_spans(1)
    assert span.name == "chat claude-haiku-4-5-20251001"
    assert span.attributes["gen_ai.provider.name"] == "anthropic"
    assert span.attributes["gen_ai.response.model"] == "claude-haiku-4-5-20251001"
    assert span.attributes["gen_ai.usage.input_tokens"] >= 2
    assert span.attributes["gen_ai.usage.output_tokens"] == 5
    assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 3
    assert span.attributes["otel_llm.usage.cost"] > 0
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)


async def test_anthropic_messages_api(capture_mode: str, signals: Signals, fake_anthropic: FakeAnthropic) -> None:
    """litellm.anthropic_messages (the /v1/messages format) is a chat span with tokens."""
    await litellm.anthropic_messages(
        model="anthropic/claude-haiku-4-5-20251001",
        messages=[{"role": "user", "content": "hello there"}],
        max_tokens=50,
        api_base=fake_anthropic.api_base,
        api_key="sk-ant-test",
    )
    (span,) = await asyncio.to_thread(signals.wait_spans, 1)
    assert span.attributes["gen_ai.operation.name"] == "chat"
    assert span.attributes["gen_ai.provider.name"] == "anthropic"
    assert span.attributes["gen_ai.usage.output_tokens"] == 5


async def test_anthropic_messages_stream(capture_mode: str, signals: Signals, fake_anthropic: FakeAnthropic) -> None:
    """A streamed anthropic_messages: the tokens of Anthropic's message_start and message_delta
    events (input counting cache reads), and the time to the first chunk, not to the last."""

    async def streamed() -> bytes:
        stream = await litellm.anthropic_messages(
            model="anthropic/claude-haiku-4-5-20251001",
            messages=[{"role": "user", "content": "hello there"}],
            max_tokens=50,
            stream=True,
            api_base=fake_anthropic.api_base,
            api_key="sk-ant-test",
        )
        return b"".join([chunk async for chunk in stream])

    # A first stream warms LiteLLM's lazy imports: on a cold path, events pile up meanwhile and the
    # first chunk the caller sees already holds most of the stream.
    await streamed()
    await asyncio.to_thread(signals.wait_spans, 1)
    signals.spans_exporter.clear()
    fake_anthropic.chunk_delay_s = 0.05  # nine gaps: the last event comes >= 0.45 s after the first
    assert b"message_stop" in await streamed()
    (span,) = await asyncio.to_thread(signals.wait_spans, 1)
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.usage.input_tokens"] == 2 + 3
    assert span.attributes["gen_ai.usage.output_tokens"] == 5
    assert 0 < span.attributes["gen_ai.response.time_to_first_chunk"] < (span.end_time - span.start_time) / 1e9 - 0.3
    (ttfc,) = signals.points("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.count == 2


def test_responses_api(capture_mode: str, signals: Signals, httpserver: HTTPServer) -> None:
    """The Responses API is a chat span with the provider's usage."""
    httpserver.expect_request("/resp/v1/responses").respond_with_json(
        {
            "id": "resp_1",
            "object": "response",
            "created_at": 1,
            "status": "completed",
            "model": "gpt-4o-mini-2024-07-18",
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "hi", "annotations": []}],
                }
            ],
            "usage": {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11},
        }
    )
    litellm.responses(
        model="openai/gpt-4o-mini", input="hello responses", api_base=httpserver.url_for("/resp/v1"), api_key="sk-x"
    )
    (span,) = signals.wait_spans(1)
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes["otel_llm.litellm.call_type"] in ("responses", "aresponses")
    assert span.attributes["gen_ai.usage.input_tokens"] == 9
    assert span.attributes["gen_ai.usage.output_tokens"] == 2


def test_image_generation(capture_mode: str, signals: Signals, httpserver: HTTPServer) -> None:
    """Image generation is a generate_content span with output type image."""
    httpserver.expect_request("/img/v1/images/generations").respond_with_json(
        {"created": 1, "data": [{"url": "https://example.invalid/cat.png"}]}
    )
    litellm.image_generation(
        prompt="a cat", model="openai/dall-e-3", api_base=httpserver.url_for("/img/v1"), api_key="sk-x"
    )
    (span,) = signals.wait_spans(1)
    assert span.name == "generate_content dall-e-3"
    assert span.attributes["gen_ai.output.type"] == "image"


def test_rerank(capture_mode: str, signals: Signals, httpserver: HTTPServer) -> None:
    """Rerank keeps its own operation name."""
    httpserver.expect_request("/rr/v2/rerank").respond_with_json(
        {
            "id": "rr-1",
            "results": [{"index": 1, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.1}],
            "meta": {"billed_units": {"search_units": 1}},
        }
    )
    litellm.rerank(
        model="cohere/rerank-english-v3.0",
        query="which one",
        documents=["a", "b"],
        api_base=httpserver.url_for("/rr"),
        api_key="sk-x",
    )
    (span,) = signals.wait_spans(1)
    assert span.name == "rerank rerank-english-v3.0"
    assert span.attributes["gen_ai.provider.name"] == "cohere"


def test_speech(capture_mode: str, signals: Signals, httpserver: HTTPServer) -> None:
    """Text to speech is a generate_content span with output type speech."""
    httpserver.expect_request("/tts/v1/audio/speech").respond_with_data(b"RIFF0000WAVE", content_type="audio/wav")
    litellm.speech(
        model="openai/tts-1", input="say this", voice="alloy", api_base=httpserver.url_for("/tts/v1"), api_key="sk-x"
    )
    (span,) = signals.wait_spans(1)
    assert span.name == "generate_content tts-1"
    assert span.attributes["gen_ai.output.type"] == "speech"


def test_transcription(capture_mode: str, signals: Signals, httpserver: HTTPServer) -> None:
    """Speech to text keeps the 'transcription' operation name."""
    httpserver.expect_request("/stt/v1/audio/transcriptions").respond_with_data(
        json.dumps({"text": "hello world"}), content_type="application/json"
    )
    litellm.transcription(
        model="openai/whisper-1",
        file=("a.wav", b"RIFF0000WAVEfmt ", "audio/wav"),
        api_base=httpserver.url_for("/stt/v1"),
        api_key="sk-x",
    )
    (span,) = signals.wait_spans(1)
    assert span.name == "transcription whisper-1"
