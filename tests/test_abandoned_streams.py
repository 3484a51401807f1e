"""Streams the caller lets go of before their end, with the instrumentor: the attempt ends then.

LiteLLM reports such a call to no callback, so the wrapper's view is all there is. A caller
that closes the stream, leaves its ``with`` block or drops it gets its span and duration point
within a second, marked ``otel_llm.stream.abandoned`` (status unset, no ``error.type``: the
provider did not fail), not a minute later at the callback timeout; one kept but never finished
is swept at the timeout and ends at its last chunk, not at the sweep.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from typing import Any

import litellm
import pytest
from litellm.integrations.custom_logger import CustomLogger
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm import LiteLLMInstrumentor
from otel_llm._capture.live import REGISTRY
from tests.conftest import Signals, wait_for
from tests.fakes import FakeOpenAI

MESSAGES = [{"role": "user", "content": "tell me a long story"}]
# LiteLLM before 1.108 gives its streams no close() and no (async) context manager: the observed
# stream must not invent them (the same error as unwrapped), and letting go is then dropping it.
STREAM_HAS = {name: hasattr(CustomStreamWrapper, name) for name in ("close", "__enter__", "__aenter__")}
# Far above what any assertion below waits: a span that comes at all came from the abandonment.
CALLBACK_TIMEOUT_S = "30"


@pytest.fixture
def instrumented(signals: Signals, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiteLLMInstrumentor]:
    monkeypatch.setenv("OTEL_LLM_CALLBACK_TIMEOUT", CALLBACK_TIMEOUT_S)
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    yield instrumentor
    instrumentor.uninstrument()


def _stream(fake: FakeOpenAI) -> Any:
    fake.reply = " ".join(f"word{i}" for i in range(40))
    return litellm.completion(
        model="openai/gpt-4o-mini", messages=MESSAGES, api_base=fake.api_base, api_key="sk-x", stream=True
    )


async def _astream(fake: FakeOpenAI) -> Any:
    fake.reply = " ".join(f"word{i}" for i in range(40))
    return await litellm.acompletion(
        model="openai/gpt-4o-mini", messages=MESSAGES, api_base=fake.api_base, api_key="sk-x", stream=True
    )


def _assert_abandoned(signals: Signals, let_go_at: float) -> None:
    (span,) = signals.wait_spans(1, timeout=5)
    waited = time.monotonic() - let_go_at
    assert waited < 5, f"the span came {waited:.1f}s after the caller let go"
    assert span.attributes["otel_llm.stream.abandoned"] is True
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.status.status_code is StatusCode.UNSET and "error.type" not in span.attributes
    assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0
    (duration,) = signals.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and "error.type" not in duration.attributes
    assert duration.sum < 5  # ends when the caller let go, not at a sweep
    assert len(REGISTRY) == 0


def test_closed_after_the_first_chunk(
    instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    stream = _stream(fake_openai)
    next(iter(stream))
    if STREAM_HAS["close"]:
        stream.close()
    else:
        with pytest.raises(AttributeError):
            stream.close()
        del stream
        gc.collect()
    _assert_abandoned(signals, time.monotonic())


def test_left_with_block_early(instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI) -> None:
    if STREAM_HAS["__enter__"]:
        with _stream(fake_openai) as stream:
            for _ in stream:
                break
    else:
        stream = _stream(fake_openai)
        next(iter(stream))
        with pytest.raises(TypeError, match="context manager protocol"), stream:
            pass
        del stream
        gc.collect()
    _assert_abandoned(signals, time.monotonic())


def test_dropped_after_a_break(instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI) -> None:
    stream = _stream(fake_openai)
    for _ in stream:
        break
    del stream
    gc.collect()
    _assert_abandoned(signals, time.monotonic())


async def test_async_with_block_left_early(
    instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    if STREAM_HAS["__aenter__"]:
        async with await _astream(fake_openai) as stream:
            async for _ in stream:
                break
    else:
        stream = await _astream(fake_openai)
        await stream.__anext__()
        with pytest.raises(TypeError, match="asynchronous context manager protocol"):
            async with stream:
                pass
        del stream
        gc.collect()
    _assert_abandoned(signals, time.monotonic())


async def test_async_aclose(instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI) -> None:
    stream = await _astream(fake_openai)
    await stream.__anext__()
    await stream.aclose()
    _assert_abandoned(signals, time.monotonic())


def test_read_to_the_end_inside_with_is_a_whole_call(
    instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """``with`` binds the observed stream: its end is seen, and the call is complete, not abandoned."""
    if not STREAM_HAS["__enter__"]:
        stream = _stream(fake_openai)  # nothing to bind: read it plainly (the same path)
        chunks = sum(1 for _ in stream)
    else:
        with _stream(fake_openai) as stream:
            chunks = sum(1 for _ in stream)
    assert chunks > 40
    (span,) = signals.wait_spans(1, timeout=5)
    assert "otel_llm.stream.abandoned" not in span.attributes and "otel_llm.span.incomplete" not in span.attributes
    assert "otel_llm.usage.source" in span.attributes  # LiteLLM's own report, merged at the end
    assert len(REGISTRY) == 0


async def test_async_read_to_the_end_inside_async_with(
    instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    if STREAM_HAS["__aenter__"]:
        async with await _astream(fake_openai) as stream:
            async for _ in stream:
                pass
    else:
        async for _ in await _astream(fake_openai):
            pass
    # LiteLLM reports async calls on this event loop: wait off it.
    (span,) = await asyncio.to_thread(signals.wait_spans, 1, 5)
    assert "otel_llm.stream.abandoned" not in span.attributes and "otel_llm.span.incomplete" not in span.attributes


def test_kept_but_never_finished_ends_at_its_last_chunk(
    signals: Signals, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream held but no longer read is swept at the callback timeout and ends at its last
    chunk: its duration is how long it was read, not how long the sweeper waited."""
    monkeypatch.setenv("OTEL_LLM_CALLBACK_TIMEOUT", "1")
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    try:
        stream = _stream(fake_openai)
        next(iter(stream))
        (span,) = signals.wait_spans(1, timeout=10)
        assert span.attributes["otel_llm.span.incomplete"] is True
        assert "otel_llm.stream.abandoned" not in span.attributes
        (duration,) = signals.points("gen_ai.client.operation.duration")
        assert duration.sum < 0.9, duration.sum  # the sweep came after >= 1 s
        del stream
    finally:
        instrumentor.uninstrument()


class _Witness(CustomLogger):
    """A second logging callback, after otel-llm's: once it has LiteLLM's report, otel-llm has had it."""

    def __init__(self) -> None:
        super().__init__()
        self.reports = 0

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.reports += 1


def test_read_again_after_its_sweep_is_still_one_span(
    signals: Signals, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream swept at the callback timeout and then read to its end: LiteLLM's report of it
    comes after its span ended, and is dropped, not a second span and duration point."""
    monkeypatch.setenv("OTEL_LLM_CALLBACK_TIMEOUT", "1")
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    witness = _Witness()
    litellm.callbacks.append(witness)
    try:
        stream = _stream(fake_openai)
        next(iter(stream))
        signals.wait_spans(1, timeout=10)  # swept
        for _ in stream:
            pass
        wait_for(lambda: witness.reports == 1, message="LiteLLM reported the stream")
        assert len(signals.spans()) == 1
        (duration,) = signals.points("gen_ai.client.operation.duration")
        assert duration.count == 1
    finally:
        instrumentor.uninstrument()


def test_dropped_after_litellm_reported_it(
    instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """LiteLLM saw the stream's end and reported it before otel-llm's stream did (read here through
    the stream it wraps), then the caller dropped it: the span ends within a second, from LiteLLM's
    report (not abandoned, not incomplete), not at the exit flush."""
    witness = _Witness()
    litellm.callbacks.append(witness)
    stream = _stream(fake_openai)
    for _ in stream.__wrapped__:  # LiteLLM's own stream, to its end: LiteLLM reports it
        pass
    wait_for(lambda: witness.reports == 1, message="LiteLLM reported the stream")
    assert signals.spans() == []  # otel-llm's stream has not seen the end yet
    del stream
    gc.collect()
    (span,) = signals.wait_spans(1, timeout=5)
    assert "otel_llm.stream.abandoned" not in span.attributes and "otel_llm.span.incomplete" not in span.attributes
    (duration,) = signals.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and "error.type" not in duration.attributes
    assert len(REGISTRY) == 0


@pytest.mark.parametrize("let_go", ["close", "drop"])
def test_router_request_ends_with_its_abandoned_stream(
    instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI, let_go: str
) -> None:
    """A streamed Router request let go of early: its parent span ends too, after its attempt."""
    router = litellm.Router(
        model_list=[
            {
                "model_name": "fast",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": fake_openai.api_base, "api_key": "sk"},
            }
        ]
    )
    fake_openai.reply = " ".join(f"word{i}" for i in range(40))
    stream = router.completion(model="fast", messages=MESSAGES, stream=True)
    next(iter(stream))
    if let_go == "close" and STREAM_HAS["close"]:
        stream.close()
    else:
        del stream
        gc.collect()
    spans = signals.wait_spans(2, timeout=5)
    (parent,) = [s for s in spans if s.kind is SpanKind.INTERNAL]
    (attempt,) = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert attempt.parent is not None and attempt.parent.span_id == parent.context.span_id
    assert attempt.attributes["otel_llm.stream.abandoned"] is True
    assert parent.end_time >= attempt.end_time
    assert len(REGISTRY) == 0


async def test_cancelled_while_reading(
    instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """A task cancelled while it reads a Router stream (as the proxy's is when its client hangs up):
    the attempt is abandoned, not failed, and so is its Router request; no CancelledError point."""
    router = litellm.Router(
        model_list=[
            {
                "model_name": "fast",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": fake_openai.api_base, "api_key": "sk"},
            }
        ]
    )
    fake_openai.reply = " ".join(f"word{i}" for i in range(40))
    fake_openai.chunk_delay_s = 0.1
    first_chunk = asyncio.Event()

    async def read() -> None:
        stream = await router.acompletion(model="fast", messages=MESSAGES, stream=True)
        async for _ in stream:
            first_chunk.set()

    task = asyncio.create_task(read())
    await first_chunk.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    spans = await asyncio.to_thread(signals.wait_spans, 2, 5)
    (parent,) = [s for s in spans if s.kind is SpanKind.INTERNAL]
    (attempt,) = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert attempt.attributes["otel_llm.stream.abandoned"] is True
    for span in (parent, attempt):
        assert span.status.status_code is StatusCode.UNSET and "error.type" not in span.attributes
    (duration,) = signals.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and "error.type" not in duration.attributes
