"""500 concurrent async calls and 8 threads of sync calls: exact counts, right parents, no cross-talk."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator

import litellm
import pytest
from opentelemetry.trace import StatusCode

from otel_llm import LiteLLMInstrumentor
from tests.conftest import Signals
from tests.fakes import FailingProvider, FakeOpenAI, fake_providers

pytestmark = pytest.mark.slow  # stress and property tests: seconds each; CI runs them


@pytest.fixture
def threaded_provider() -> Iterator[tuple[FakeOpenAI, FailingProvider]]:
    with fake_providers("/down") as providers:
        yield providers


def _kind(i: int) -> str:
    return "fail" if i % 7 == 0 else ("stream" if i % 5 == 0 else "plain")


def _check(signals: Signals, count: int, prefix: str) -> None:
    spans = signals.wait_spans(2 * count, timeout=60)
    parents = {s.context.span_id: s for s in spans if s.name.startswith(prefix)}
    llm = [s for s in spans if s.attributes.get("gen_ai.operation.name")]
    assert len(parents) == count and len(llm) == count
    for span in llm:
        assert span.parent is not None
        parent = parents[span.parent.span_id]
        i = int(parent.name.removeprefix(prefix))
        assert span.attributes["enduser.id"] == f"u{i}"  # no attribute crossed from another request
        assert span.context.trace_id == parent.context.trace_id
        failed = span.status.status_code is StatusCode.ERROR
        assert failed == (_kind(i) == "fail")
        assert span.attributes["gen_ai.request.stream"] is (_kind(i) == "stream")
    durations = signals.points("gen_ai.client.operation.duration")
    assert sum(p.count for p in durations) == count
    failures = sum(p.count for p in durations if p.attributes.get("error.type"))
    assert failures == sum(1 for i in range(count) if _kind(i) == "fail")
    outputs = sum(
        p.count for p in signals.points("gen_ai.client.token.usage") if p.attributes["gen_ai.token.type"] == "output"
    )
    assert outputs == sum(1 for i in range(count) if _kind(i) != "fail")


def _kwargs(i: int, fake: FakeOpenAI, down: FailingProvider) -> dict[str, object]:
    kwargs: dict[str, object] = {
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": f"request {i}"}],
        "api_key": "sk-x",
        "api_base": down.api_base if _kind(i) == "fail" else fake.api_base,
        "user": f"u{i}",
        "num_retries": 0,
    }
    if _kind(i) == "stream":
        kwargs.update(stream=True, stream_options={"include_usage": True})
    return kwargs


async def test_500_concurrent_async_calls(
    instrumented: LiteLLMInstrumentor, signals: Signals, threaded_provider: tuple[FakeOpenAI, FailingProvider]
) -> None:
    """Each of 500 concurrent requests gets exactly its own span, under its own parent."""
    fake, down = threaded_provider
    tracer = signals.tracer_provider.get_tracer("app")

    async def one(i: int) -> None:
        with tracer.start_as_current_span(f"async-request-{i}"):
            try:
                response = await litellm.acompletion(**_kwargs(i, fake, down))
                if _kind(i) == "stream":
                    async for _ in response:
                        pass
            except litellm.InternalServerError:
                assert _kind(i) == "fail"

    await asyncio.gather(*(one(i) for i in range(500)))
    await asyncio.to_thread(_check, signals, 500, "async-request-")


def test_8_threads_of_sync_calls(
    instrumented: LiteLLMInstrumentor, signals: Signals, threaded_provider: tuple[FakeOpenAI, FailingProvider]
) -> None:
    """8 threads × 40 sync calls (plain, streamed, failing): exact counts, right parents."""
    fake, down = threaded_provider
    tracer = signals.tracer_provider.get_tracer("app")

    def one(i: int) -> None:
        with tracer.start_as_current_span(f"sync-request-{i}"):
            try:
                response = litellm.completion(**_kwargs(i, fake, down))
                if _kind(i) == "stream":
                    for _ in response:
                        pass
            except litellm.InternalServerError:
                assert _kind(i) == "fail"

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(320)))
    _check(signals, 320, "sync-request-")
