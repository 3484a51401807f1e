"""Safety: one span however instrumented, clean uninstrument, suppression, isolated emitter failures."""

from __future__ import annotations

import logging

import litellm
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

from otel_llm import LiteLLMInstrumentor, OtelLLMCallback, _errors
from otel_llm._capture.targets import ROUTER_TARGETS
from otel_llm._emit.spans import SpanEmitter
from tests.conftest import Signals, wait_for
from tests.fakes import FakeOpenAI

MESSAGES = [{"role": "user", "content": "is it safe"}]


def _call(fake: FakeOpenAI) -> None:
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, api_base=fake.api_base, api_key="sk-x")


def _callback_lists() -> list[list[object]]:
    names = ("callbacks", "success_callback", "failure_callback", "_async_success_callback", "_async_failure_callback")
    return [getattr(litellm, name) for name in names]


def test_instrument_twice_gives_one_span(signals: Signals, fake_openai: FakeOpenAI) -> None:
    """A second instrument() is a no-op: still exactly one span per call."""
    first = LiteLLMInstrumentor()
    first.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    try:
        LiteLLMInstrumentor().instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
        _call(fake_openai)
        signals.wait_spans(1)
        _call(fake_openai)
        signals.wait_spans(2)
        litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="hi")
        signals.wait_spans(3)
        assert len(signals.llm_spans()) == 3
    finally:
        first.uninstrument()


def test_instrumentor_plus_user_callback_gives_one_span(
    instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """A user's own OtelLLMCallback next to the instrumentor's does not duplicate spans."""
    extra = OtelLLMCallback(signals.tracer_provider, signals.meter_provider)
    litellm.callbacks.append(extra)
    try:
        _call(fake_openai)
        signals.wait_spans(1)
        _call(fake_openai)
        signals.wait_spans(2)
        assert len(signals.llm_spans()) == 2
        assert sum(p.count for p in signals.points("gen_ai.client.operation.duration")) == 2
    finally:
        litellm.logging_callback_manager.remove_callback_from_all_lists(extra)
        extra.telemetry.close()


def test_uninstrument_restores_everything(signals: Signals, fake_openai: FakeOpenAI) -> None:
    """uninstrument() restores every patched function and removes the callback from all lists."""
    originals = {name: getattr(litellm, name) for name in ("completion", "acompletion", "embedding")}
    # Read through the class, not its __dict__: LiteLLM >= 1.110's Router serves its endpoints
    # through its metaclass (from the Rust-backed core's class), older Routers define them.
    router_methods = {target.name: getattr(litellm.Router, target.name, None) for target in ROUTER_TARGETS}
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    callback = instrumentor.callback
    assert litellm.completion is not originals["completion"]
    assert litellm.Router.completion is not router_methods["completion"]
    _call(fake_openai)
    signals.wait_spans(1)
    instrumentor.uninstrument()
    for name, original in originals.items():
        assert getattr(litellm, name) is original
    assert {name: getattr(litellm.Router, name, None) for name in router_methods} == router_methods
    assert all(callback not in callbacks for callbacks in _callback_lists())
    _call(fake_openai)
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="hi")
    # Give LiteLLM's logging thread every chance to (wrongly) report the calls.
    litellm_executor_idle = __import__("otel_llm._lifecycle", fromlist=["x"])._litellm_executor_idle
    wait_for(litellm_executor_idle)
    assert len(signals.spans()) == 1


def test_suppressed_calls_emit_nothing(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """Calls under suppress_instrumentation() produce no span and no metric point."""
    with suppress_instrumentation():
        _call(fake_openai)
    _call(fake_openai)  # a marker call, reported after the suppressed one would have been
    signals.wait_spans(1)
    from otel_llm._lifecycle import _litellm_executor_idle

    wait_for(_litellm_executor_idle)
    assert len(signals.spans()) == 1
    assert sum(p.count for p in signals.points("gen_ai.client.operation.duration")) == 1


def test_parent_is_the_callers_span(capture_mode: str, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """The LLM span is a child of the span active when the application called LiteLLM."""
    tracer = signals.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle-request") as parent:
        _call(fake_openai)
    spans = signals.wait_spans(2)
    (llm,) = [s for s in spans if s.name.startswith("chat")]
    assert llm.parent is not None and llm.parent.span_id == parent.get_span_context().span_id


def test_failing_emitter_is_isolated(
    capture_mode: str,
    signals: Signals,
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A span emitter that raises does not reach the caller or stop metrics; it is logged once and counted."""

    def broken(self: SpanEmitter, record: object, live_span: object = None) -> None:
        if live_span is not None:
            live_span.end()  # type: ignore[attr-defined]
        raise RuntimeError("emitter bug")

    monkeypatch.setattr(SpanEmitter, "emit", broken)
    _errors.set_strict(False)
    before = _errors.internal_error_count("emit.spans")
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        _call(fake_openai)
        _call(fake_openai)
        wait_for(lambda: sum(p.count for p in signals.points("gen_ai.client.operation.duration")) == 2)
    assert _errors.internal_error_count("emit.spans") - before == 2
    (counted,) = [
        p for p in signals.points("otel_llm.internal.errors") if p.attributes["otel_llm.component"] == "emit.spans"
    ]
    assert counted.value == 2
    warnings = [r for r in caplog.records if "internal error in emit.spans" in r.getMessage()]
    assert len(warnings) <= 1  # rate-limited: at most once a minute per component


def test_strict_mode_surfaces_swallowed_errors(
    callback_only: OtelLLMCallback, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In strict mode an internal error inside LiteLLM's callback thread is kept for the test to see."""
    monkeypatch.setattr(SpanEmitter, "emit", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    _call(fake_openai)
    wait_for(lambda: _errors._seen_in_strict)
    assert [str(e) for e in _errors.take_strict_errors()] == ["boom"]


def test_nested_openai_sdk_instrumentation_is_suppressed(
    instrumented: LiteLLMInstrumentor, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """With the OpenAI SDK's own GenAI instrumentation active too, each call is still one LLM span."""
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    openai_instrumentor = OpenAIInstrumentor()
    openai_instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    try:
        _call(fake_openai)
        signals.wait_spans(1)
        from otel_llm._lifecycle import _litellm_executor_idle

        wait_for(_litellm_executor_idle)
        names = [s.name for s in signals.spans()]
        assert names == ["chat gpt-4o-mini"], names
    finally:
        openai_instrumentor.uninstrument()


def test_tracer_without_sdk_is_harmless(fake_openai: FakeOpenAI) -> None:
    """With no SDK installed (the API's no-op providers), calls work and nothing raises."""
    callback = OtelLLMCallback(trace.NoOpTracerProvider())
    litellm.callbacks.append(callback)
    _call(fake_openai)
    from otel_llm._lifecycle import _litellm_executor_idle

    wait_for(_litellm_executor_idle)


def test_a_heartbeat_per_process_before_any_call(signals: Signals) -> None:
    """`otel_llm.build.info` is 1 from the start, without traffic (what OtelLLMTelemetryStopped
    watches), with otel-llm's and LiteLLM's versions; the callback and the instrumentor together
    on one provider still make one series."""
    from importlib.metadata import version

    from otel_llm import __version__

    first = OtelLLMCallback(signals.tracer_provider, signals.meter_provider)
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    try:
        (point,) = signals.points("otel_llm.build.info")
        assert point.value == 1
        assert dict(point.attributes) == {
            "otel_llm.version": __version__,
            "otel_llm.litellm.version": version("litellm"),
        }
        (again,) = signals.points("otel_llm.build.info")  # observed anew at every collection
        assert again.time_unix_nano > point.time_unix_nano
    finally:
        instrumentor.uninstrument()
        first.telemetry.close()
