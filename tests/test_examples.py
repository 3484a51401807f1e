"""Every example runs as a subprocess and exports its telemetry to a local OTLP receiver."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.fakes import FailingProvider, FakeOpenAI
from tests.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.e2e  # subprocesses: run by CI, select with -m e2e

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _env(receiver: OtlpReceiver, fake: FakeOpenAI, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_METRIC_EXPORT_INTERVAL": "60000",
            "OPENAI_API_BASE": fake.api_base,
            "OPENAI_API_KEY": "sk-example-provider-key-000",
            "OTEL_LLM_RAISE_INTERNAL_ERRORS": "true",
        }
    )
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "otel-llm: internal error" not in result.stderr, result.stderr[-4000:]
    return result


def test_zero_code_with_opentelemetry_instrument(fake_openai: FakeOpenAI) -> None:
    """`opentelemetry-instrument python app.py` exports both calls' spans and metrics, the last one async."""
    with OtlpReceiver() as receiver:
        # LiteLLM's default async transport is aiohttp, which httpx instrumentation cannot see.
        env = _env(
            receiver,
            fake_openai,
            OTEL_SERVICE_NAME="zero-code-test",
            OTEL_LOGS_EXPORTER="none",
            DISABLE_AIOHTTP_TRANSPORT="True",
        )
        result = _run([str(BIN / "opentelemetry-instrument"), sys.executable, "examples/zero_code_app.py"], env)
        assert "sync: Hello from the fake provider" in result.stdout
        llm = [s for s in receiver.spans() if s["scope"] == "otel_llm"]
        assert sorted(s["name"] for s in llm) == ["chat gpt-4o-mini", "chat gpt-4o-mini"]
        assert {s["resource"]["service.name"] for s in llm} == {"zero-code-test"}
        assert all(s["attributes"]["gen_ai.usage.output_tokens"] == 5 for s in llm)
        # httpx is instrumented too: each provider HTTP span is a child of its LLM span.
        llm_ids = {s["span_id"] for s in llm}
        http = [s for s in receiver.spans() if s["scope"].endswith("httpx")]
        assert len(http) == 2 and all(s["parent_span_id"] in llm_ids for s in http)
        tokens = receiver.latest_points("gen_ai.client.token.usage")
        assert sum(p.sum for attrs, p, _ in tokens if attrs["gen_ai.token.type"] == "output") == 10


def test_sdk_quickstart(fake_openai: FakeOpenAI) -> None:
    """The quickstart exports its one call over OTLP."""
    with OtlpReceiver() as receiver:
        _run([sys.executable, "examples/sdk_quickstart.py"], _env(receiver, fake_openai))
        (span,) = [s for s in receiver.spans() if s["scope"] == "otel_llm"]
        assert span["name"] == "chat gpt-4o-mini"
        assert span["resource"]["service.name"] == "otel-llm-quickstart"
        assert receiver.metric_points("gen_ai.client.operation.duration")


def test_router_fallbacks_example(fake_openai: FakeOpenAI, httpserver: HTTPServer) -> None:
    """The Router example shows the parent, the failed attempts and the fallback."""
    primary = FailingProvider(httpserver, "/example-primary", 503)
    with OtlpReceiver() as receiver:
        env = _env(receiver, fake_openai, PRIMARY_API_BASE=primary.api_base, BACKUP_API_BASE=fake_openai.api_base)
        result = _run([sys.executable, "examples/router_fallbacks.py"], env)
        assert "served by: backup" in result.stdout
        spans = [s for s in receiver.spans() if s["scope"] == "otel_llm"]
        (parent,) = [s for s in spans if s["name"] == "chat primary"]
        attempts = [s for s in spans if s["parent_span_id"] == parent["span_id"]]
        assert len(attempts) == 3
        assert parent["attributes"]["otel_llm.router.fallbacks"] == 1


def test_agent_loop_example(fake_openai: FakeOpenAI) -> None:
    """The agent loop example is stopped by the loop guard right after the detection, and reports it."""
    with OtlpReceiver() as receiver:
        result = _run([sys.executable, "examples/agent_loop.py"], _env(receiver, fake_openai))
        # The first call has no tool round yet; the next 8 repeat the same one: the 9th is the last allowed.
        assert "the loop was stopped after 9 calls" in result.stdout
        assert "runaway loop (repeat" in result.stdout
        detected = [attrs for s in receiver.spans() for name, attrs in s["events"] if name == "otel_llm.loop.detected"]
        assert len(detected) == 1 and detected[0]["otel_llm.loop.action"] == "blocked"
        points = receiver.latest_points("otel_llm.loop.detections")
        assert sum(p.as_int for _, p, _ in points) == 1
