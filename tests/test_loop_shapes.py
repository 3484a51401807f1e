"""Every loop shape gets its call's telemetry when the loop ends, exactly once.

LiteLLM queues a call's async report on the running loop; a loop that closes right after the
call (``asyncio.run`` per job, a thread with a loop of its own, a loop nested in another loop's
executor, uvloop) used to keep that report until interpreter exit. otel-llm runs LiteLLM's
queued reports as such a loop closes, so the span and its points exist as soon as
``asyncio.run`` returns; a loop closed without ``shutdown_asyncgens()`` is finished by the
sweeper from what the instrumentor saw, and LiteLLM's late report is then dropped, not a
second span. (tests/test_job_end.py runs the same in a real long-lived worker process.)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import litellm
import pytest
import uvloop
from litellm.integrations.custom_logger import CustomLogger

from otel_llm._capture.live import REGISTRY
from tests.conftest import Signals, wait_for
from tests.fakes import FakeOpenAI

MESSAGES = [{"role": "user", "content": "one two three"}]
# LiteLLM's own, about its worker on a loop closed without shutdown_asyncgens().
LITELLMS_OWN_WARNING = "ignore:coroutine 'LoggingWorker._worker_loop' was never awaited"


def _call(fake: FakeOpenAI) -> Coroutine[Any, Any, Any]:
    return litellm.acompletion(model="openai/gpt-4o-mini", messages=MESSAGES, api_base=fake.api_base, api_key="sk-x")


def _in_thread(job: Callable[[], object]) -> None:
    thread = threading.Thread(target=job)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()


def _nested(fake: FakeOpenAI) -> None:
    """A loop running in an executor thread of another running loop."""

    async def outer() -> None:
        await asyncio.get_running_loop().run_in_executor(None, lambda: asyncio.run(_call(fake)))

    asyncio.run(outer())


SHAPES: dict[str, Callable[[FakeOpenAI], object]] = {
    "asyncio.run": lambda fake: asyncio.run(_call(fake)),
    "uvloop": lambda fake: uvloop.run(_call(fake)),
    "thread with its own loop": lambda fake: _in_thread(lambda: asyncio.run(_call(fake))),
    "nested in another loop's executor": _nested,
}


def _durations(signals: Signals) -> int:
    return sum(point.count for point in signals.points("gen_ai.client.operation.duration"))


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_loop_per_call_delivers_before_it_returns(
    shape: str, capture_mode: str, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """Three jobs, each in a loop of its own: each job's span and points exist once its loop has closed."""
    for job in range(1, 4):
        SHAPES[shape](fake_openai)
        spans = signals.llm_spans()  # no wait: the loop delivered before it closed
        assert len(spans) == job, f"{shape}, {capture_mode}: job {job}"
        assert _durations(signals) == job
        assert all("otel_llm.span.incomplete" not in span.attributes for span in spans)
        assert spans[-1].attributes["gen_ai.usage.input_tokens"] == 3
        tokens = signals.points("gen_ai.client.token.usage")
        assert sorted((p.attributes["gen_ai.token.type"], p.count, p.sum) for p in tokens) == [
            ("input", job, 3 * job),
            ("output", job, 5 * job),
        ]
        (cost,) = signals.points("otel_llm.client.cost")
        assert cost.count == job and cost.sum == pytest.approx(job * spans[-1].attributes["otel_llm.usage.cost"])
    assert len(REGISTRY) == 0


async def test_one_long_lived_loop(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """Calls in one loop that keeps running are reported by LiteLLM's worker as before: once each."""
    for _ in range(3):
        await _call(fake_openai)
    deadline = time.monotonic() + 10
    while len(signals.llm_spans()) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)  # a bounded wait that lets the loop run LiteLLM's worker
    assert len(signals.llm_spans()) == 3 and _durations(signals) == 3


def _loop_closed_without_shutdown(fake: FakeOpenAI) -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_call(fake))
    finally:
        loop.close()  # no shutdown_asyncgens(): LiteLLM's report stays queued


@pytest.mark.filterwarnings(LITELLMS_OWN_WARNING)
def test_a_loop_closed_without_shutdown_is_finished_by_the_sweeper(
    instrumented: object, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """The instrumentor finishes the call from its response within a second; the report that a
    later loop runs is dropped, not a second span."""
    _loop_closed_without_shutdown(fake_openai)
    (span,) = signals.wait_spans(1, timeout=5)
    assert span.attributes["otel_llm.span.incomplete"] is True  # finished without LiteLLM's report
    assert span.attributes["gen_ai.usage.input_tokens"] == 3  # from the response the wrapper saw
    assert span.attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    asyncio.run(_call(fake_openai))  # runs the first call's carried report too
    assert len(signals.llm_spans()) == 2
    assert _durations(signals) == 2


def test_a_loop_kept_and_run_per_job(instrumented: object, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """One loop run per job (``asyncio.Runner``, ``run_until_complete``), stopped in between: the
    instrumentor ends each job's span within about a second of the loop stopping, once, streams
    included."""

    async def streamed() -> None:
        stream = await litellm.acompletion(
            model="openai/gpt-4o-mini",
            messages=MESSAGES,
            api_base=fake_openai.api_base,
            api_key="sk-x",
            stream=True,
            stream_options={"include_usage": True},
        )
        async for _ in stream:
            pass

    with asyncio.Runner() as runner:
        runner.run(_call(fake_openai))
        (first,) = signals.wait_spans(1, timeout=5)
        assert first.attributes["gen_ai.usage.input_tokens"] == 3
        runner.run(streamed())  # also runs the first job's report: dropped
        second = signals.wait_spans(2, timeout=5)[1]
        assert second.attributes["gen_ai.request.stream"] is True
        assert second.attributes["gen_ai.usage.output_tokens"] == 5  # from the stream's last chunk
    assert len(signals.llm_spans()) == 2
    assert _durations(signals) == 2


@pytest.mark.filterwarnings(LITELLMS_OWN_WARNING)
def test_a_loop_closed_without_shutdown_callback_alone(
    callback_only: object, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """With the callback alone, such a loop's report comes when the next loop closes, once."""
    _loop_closed_without_shutdown(fake_openai)
    asyncio.run(_call(fake_openai))
    assert len(signals.llm_spans()) == 2
    assert _durations(signals) == 2


class _SlowLogger(CustomLogger):
    """Another logging callback that takes far longer than the loop's end may wait."""

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        await asyncio.sleep(30)


def test_a_slow_callback_holds_the_loop_end_only_so_long(
    signals: Signals, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow callback ahead of ours delays ``asyncio.run`` by OTEL_LLM_EXIT_TIMEOUT at most, and
    the instrumentor still ends the span, from what it saw, exactly once."""
    monkeypatch.setenv("OTEL_LLM_EXIT_TIMEOUT", "0.5")
    from otel_llm import LiteLLMInstrumentor

    litellm.callbacks.insert(0, _SlowLogger())
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    try:
        started = time.monotonic()
        asyncio.run(_call(fake_openai))
        assert time.monotonic() - started < 3
        (span,) = signals.llm_spans()
        assert span.attributes["otel_llm.span.incomplete"] is True
        assert span.attributes["gen_ai.usage.output_tokens"] == 5
        asyncio.run(_call(fake_openai))  # a later loop: the first report was cancelled, not carried
        wait_for(lambda: len(signals.llm_spans()) == 2)
        assert _durations(signals) == 2
    finally:
        instrumentor.uninstrument()
