"""Patch targets are checked against the installed LiteLLM at instrument time, never raised.

otel-llm sets no upper bound on LiteLLM, so a newer release may drop or reshape an entry point.
The installed LiteLLM must fit the table exactly (no warning); the other cases stand in a future
LiteLLM's changed function for the real one (monkeypatched: no such release exists to install),
and check that instrumenting warns once, leaves a target that no longer fits unpatched (its call
still works and is still reported by the callback) and follows a moved ``model`` parameter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import litellm
import pytest
import wrapt

from otel_llm import LiteLLMInstrumentor
from otel_llm._capture import target_check
from otel_llm._capture.targets import ATTEMPT_TARGETS
from tests.conftest import Signals
from tests.fakes import FakeOpenAI


@pytest.fixture(autouse=True)
def fresh_warnings() -> Iterator[None]:
    target_check._warned.clear()
    yield
    target_check._warned.clear()


def _instrument(signals: Signals) -> LiteLLMInstrumentor:
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
    return instrumentor


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "otel_llm" and r.levelno == logging.WARNING]


def test_the_installed_litellm_fits_every_target(signals: Signals, caplog: pytest.LogCaptureFixture) -> None:
    """On the LiteLLM CI installs (and each compat version), instrumenting warns about nothing."""
    instrumentor = _instrument(signals)
    instrumentor.uninstrument()
    assert _warnings(caplog) == []


def test_a_missing_target_warns_once(
    signals: Signals, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A LiteLLM without ``arerank``: one warning naming it and the LiteLLM version, however often
    the instrumentor starts; everything else is patched."""
    monkeypatch.delattr(litellm, "arerank")
    for _ in range(2):
        _instrument(signals).uninstrument()
    (warning,) = _warnings(caplog)
    assert "litellm.arerank is missing in LiteLLM " in warning and "callback alone" in warning


def test_a_target_without_kwargs_is_left_unpatched(
    signals: Signals, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``litellm_call_id`` would break a function that takes no ``**kwargs``: it is not wrapped."""

    def rerank(model: str, query: str) -> str:
        return f"{model}:{query}"

    monkeypatch.setattr(litellm, "rerank", rerank)
    instrumentor = _instrument(signals)
    try:
        assert litellm.rerank is rerank
        assert litellm.rerank("m", query="q") == "m:q"
    finally:
        instrumentor.uninstrument()
    (warning,) = _warnings(caplog)
    assert "litellm.rerank takes no **kwargs" in warning and "left unpatched" in warning


def test_a_sync_function_where_a_coroutine_was_is_left_unpatched(
    signals: Signals, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An async wrapper around a function that became sync would hand the caller a coroutine."""

    def aspeech(model: str, **kwargs: Any) -> str:
        return "audio"

    monkeypatch.setattr(litellm, "aspeech", aspeech)
    instrumentor = _instrument(signals)
    try:
        assert litellm.aspeech("tts-1", input="hi") == "audio"
    finally:
        instrumentor.uninstrument()
    (warning,) = _warnings(caplog)
    assert "litellm.aspeech is no longer a coroutine function" in warning


def test_a_moved_model_parameter_is_followed(
    signals: Signals, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, fake_openai: FakeOpenAI
) -> None:
    """``model`` passed by position where a newer LiteLLM put it names the span's model."""
    real = litellm.completion

    def completion(messages: list[Any], model: str, **kwargs: Any) -> Any:
        return real(model=model, messages=messages, **kwargs)

    monkeypatch.setattr(litellm, "completion", completion)
    instrumentor = _instrument(signals)
    try:
        assert isinstance(litellm.completion, wrapt.FunctionWrapper)
        litellm.completion(
            [{"role": "user", "content": "hi"}], "openai/gpt-4o-mini", api_base=fake_openai.api_base, api_key="sk-x"
        )
        (span,) = signals.wait_spans(1)
        assert span.name == "chat gpt-4o-mini"
    finally:
        instrumentor.uninstrument()
    (warning,) = _warnings(caplog)
    assert "litellm.completion takes model at position 1, not 0" in warning and "followed" in warning


def test_the_table_names_model_where_litellm_takes_it() -> None:
    """text_completion and friends take the prompt first: the table says so."""
    (text_completion,) = [t for t in ATTEMPT_TARGETS if t.name == "text_completion"]
    assert text_completion.model_arg == 1
