"""The SDK internals otel-llm relies on are all there, and the doctor says which metric path runs."""

from __future__ import annotations

import pytest

from otel_llm._export import sdk_internals
from otel_llm.cli.findings import OK, WARN
from otel_llm.cli.pipeline_check import check_pipeline


def test_every_sdk_internal_relied_on_is_present() -> None:
    """An SDK upgrade that moves one of them fails here first (each has a fallback, which costs speed)."""
    assert sdk_internals.check() == []


def test_the_doctor_reports_the_metric_path() -> None:
    """Lean by default, the SDK's instruments when switched off, and a too-short idle timeout named."""
    lean, inline = check_pipeline({})
    assert lean.level == OK and "lean path" in lean.message
    assert inline.level == OK and "in its worker" in inline.message
    sdk, _ = check_pipeline({"OTEL_LLM_LEAN_PATH": "false"})
    assert sdk.level == OK and "SDK's instruments" in sdk.message
    short, _, _ = check_pipeline({"OTEL_LLM_METRIC_IDLE_TIMEOUT": "30", "OTEL_METRIC_EXPORT_INTERVAL": "60000"})
    assert short.level == WARN and "at least 60" in short.fix


def test_the_doctor_reports_where_attempts_are_emitted() -> None:
    """OTEL_LLM_PROXY_EMITTER=process: said where it applies, a warning with the fix where it cannot."""
    _, process = check_pipeline({"OTEL_LLM_PROXY_EMITTER": "process"})
    assert process.level == OK and "a process beside its worker" in process.message
    _, unusable = check_pipeline({"OTEL_LLM_PROXY_EMITTER": "process", "OTEL_LLM_EXPORTER": "prometheus"})
    assert unusable.level == WARN and "OTEL_LLM_EXPORTER=prometheus" in unusable.message
    assert "OTEL_LLM_EXPORTER=otlp" in unusable.fix
    _, sdk = check_pipeline({"OTEL_LLM_PROXY_EMITTER": "process", "OTEL_LLM_LEAN_PATH": "false"})
    assert sdk.level == WARN


def test_a_missing_internal_falls_back_to_the_sdk_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the reader hook the doctor warns and the proxy takes the SDK's instruments (no broken pipeline)."""
    monkeypatch.setattr(sdk_internals, "check", lambda: ["MetricReader._set_collect_callback"])
    finding, _ = check_pipeline({})
    assert finding.level == WARN and "falls back" in finding.message
    from otel_llm._export import setup

    assert setup._lean_path_possible() is False
