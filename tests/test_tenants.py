"""Tenants: per-key counters, histograms without keys, agents, cache economics, caps that age and count."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import litellm
import pytest
from pytest_httpserver import HTTPServer

from otel_llm import OtelLLMCallback
from otel_llm._emit.usage import USAGE_KEYS
from tests.conftest import Signals, wait_for
from tests.fakes import FailingProvider, FakeOpenAI, fallback_router

MESSAGES = [{"role": "user", "content": "route me"}]

MODEL = "openai/gpt-4o-mini"  # priced in LiteLLM's map, with a cache-read price


def _attrs(point: Any) -> dict[str, Any]:
    return dict(point.attributes or {})


async def _call(openai: FakeOpenAI, alias: str, team: str, agent: str | None = None, text: str = "hi there") -> Any:
    metadata: dict[str, Any] = {"user_api_key_alias": alias, "user_api_key_team_id": team}
    if agent:
        metadata["agent_id"] = agent
    return await litellm.acompletion(
        model=MODEL,
        messages=[{"role": "user", "content": text}],
        api_base=openai.api_base,
        api_key="sk-fake-tenants",
        metadata=metadata,
    )


async def test_per_key_counters_and_histograms_without_keys(
    capture_mode: str, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """Spend and tokens per key are exact on the counters; the histograms carry team and agent, never a key."""
    for alias, calls in (("key-a", 3), ("key-b", 1)):
        for _ in range(calls):
            await _call(fake_openai, alias, "team-1", agent="planner", text="one two three four")
    await asyncio.to_thread(signals.wait_spans, 4)
    spend = {_attrs(p)["otel_llm.key.alias"]: p.value for p in signals.points("otel_llm.client.spend")}
    costs = [s.attributes["otel_llm.usage.cost"] for s in signals.llm_spans()]
    assert spend["key-a"] == pytest.approx(3 * costs[0]) and spend["key-b"] == pytest.approx(costs[0])
    tokens = {
        (_attrs(p)["otel_llm.key.alias"], _attrs(p)["otel_llm.token.type"]): p.value
        for p in signals.points("otel_llm.client.tokens")
    }
    assert tokens[("key-a", "input")] == 3 * 4 and tokens[("key-b", "output")] == len(fake_openai.reply.split())
    requests = {_attrs(p)["otel_llm.key.alias"]: p.value for p in signals.points("otel_llm.client.requests")}
    assert requests == {"key-a": 3, "key-b": 1}
    for point in signals.points("otel_llm.client.spend"):
        assert _attrs(point)["gen_ai.agent.id"] == "planner" and _attrs(point)["otel_llm.team.id"] == "team-1"
    for name in ("gen_ai.client.operation.duration", "gen_ai.client.token.usage", "otel_llm.client.cost"):
        for point in signals.points(name):
            attrs = _attrs(point)
            assert "otel_llm.key.alias" not in attrs and "otel_llm.key.hash" not in attrs, name
            assert attrs["gen_ai.agent.id"] == "planner" and attrs["otel_llm.team.id"] == "team-1"
    (span, *_) = signals.llm_spans()
    assert span.attributes["gen_ai.agent.id"] == "planner"


async def test_two_agents_on_one_key_are_apart(
    callback_only: object, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """Many agents behind one team key: per-agent spend and tokens are exact."""
    for agent, calls in (("planner", 2), ("coder", 3)):
        for _ in range(calls):
            await _call(fake_openai, "team-key", "team-1", agent=agent, text="a b")
    await asyncio.to_thread(signals.wait_spans, 5)
    requests = {_attrs(p)["gen_ai.agent.id"]: p.value for p in signals.points("otel_llm.client.requests")}
    assert requests == {"planner": 2, "coder": 3}
    tokens = {
        _attrs(p)["gen_ai.agent.id"]: p.value
        for p in signals.points("otel_llm.client.tokens")
        if _attrs(p)["otel_llm.token.type"] == "input"
    }
    assert tokens == {"planner": 4, "coder": 6}


async def test_prompt_cache_tokens_cost_components_and_savings(
    callback_only: object, signals: Signals, fake_openai: FakeOpenAI
) -> None:
    """A provider reporting cached prompt tokens: cache-read token points, LiteLLM's cost breakdown on the
    span and as component spend, and the USD saved at the model's input price."""
    fake_openai.cached_tokens = 6
    await _call(fake_openai, "key-a", "team-1", agent="coder", text="w " * 10)
    (span,) = await asyncio.to_thread(signals.wait_spans, 1)
    attrs = span.attributes
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 6
    info = litellm.get_model_info(MODEL)
    input_rate, cache_rate = info["input_cost_per_token"], info["cache_read_input_token_cost"]
    assert attrs["otel_llm.cache.savings"] == pytest.approx(6 * (input_rate - cache_rate))
    assert attrs["otel_llm.cost.cache_read"] == pytest.approx(6 * cache_rate)
    assert attrs["otel_llm.cost.input"] == pytest.approx(4 * input_rate)  # the uncached input only
    tokens = {_attrs(p)["otel_llm.token.type"]: p.value for p in signals.points("otel_llm.client.tokens")}
    assert tokens["cache_read"] == 6 and tokens["input"] == 10
    components = {
        _attrs(p)["otel_llm.cost.component"]: p.value for p in signals.points("otel_llm.client.component_spend")
    }
    assert components["cache_read"] == pytest.approx(6 * cache_rate)
    assert sum(v for k, v in components.items() if k != "reasoning") == pytest.approx(attrs["otel_llm.usage.cost"])
    (saved,) = signals.points("otel_llm.client.cache_savings")
    assert saved.value == pytest.approx(attrs["otel_llm.cache.savings"])
    assert _attrs(saved)["gen_ai.agent.id"] == "coder" and "otel_llm.key.alias" not in _attrs(saved)


def _usage_records(signals: Signals) -> list[Any]:
    return [
        log.log_record
        for log in signals.log_exporter.get_finished_logs()
        if log.log_record.event_name == "otel_llm.usage"
    ]


def test_one_usage_record_per_attempt_with_failures_and_fallbacks(
    capture_mode: str, signals: Signals, fake_openai: FakeOpenAI, httpserver: HTTPServer
) -> None:
    """A Router request that fails, is retried, then falls back: one usage record per attempt the providers
    served (three), each with its span's trace and span ids, status and error type; the sums equal the
    per-key counters."""
    primary = FailingProvider(httpserver, "/primary", 500)
    fallback_router(primary, fake_openai).completion(
        model="primary", messages=MESSAGES, metadata={"user_api_key_alias": "key-r", "agent_id": "planner"}
    )
    signals.wait_spans(3)
    wait_for(lambda: len(_usage_records(signals)) >= 3, message="three usage records")
    records = _usage_records(signals)
    assert len(records) == 3 == primary.hits + fake_openai.served.requests
    attempts = {s.context.span_id: s for s in signals.llm_spans() if s.name.startswith("chat ")}
    for record in records:
        span = attempts[record.span_id]
        assert record.trace_id == span.context.trace_id
        assert record.attributes["otel_llm.key.alias"] == "key-r"
        assert record.attributes["gen_ai.agent.id"] == "planner"
    statuses = sorted((r.attributes["otel_llm.usage.status"], r.attributes.get("error.type")) for r in records)
    assert statuses == [("error", "InternalServerError"), ("error", "InternalServerError"), ("ok", None)]
    (ok,) = [r for r in records if r.attributes["otel_llm.usage.status"] == "ok"]
    (spend,) = signals.points("otel_llm.client.spend")
    assert spend.value == pytest.approx(ok.attributes["otel_llm.usage.cost"])
    assert ok.attributes["gen_ai.usage.input_tokens"] == fake_openai.served.input_tokens


def test_usage_records_never_carry_content(signals: Signals, fake_openai: FakeOpenAI) -> None:
    """With content capture on, the span has the messages; the usage record never does."""
    callback = OtelLLMCallback(
        signals.tracer_provider, signals.meter_provider, signals.logger_provider, capture_content="SPAN_AND_EVENT"
    )
    litellm.callbacks.append(callback)
    litellm.completion(
        model=MODEL,
        messages=[{"role": "user", "content": "the secret recipe is basil"}],
        api_base=fake_openai.api_base,
        api_key="sk-fake-tenants",
    )
    (span,) = signals.wait_spans(1)
    assert "basil" in str(span.attributes["gen_ai.input.messages"])
    wait_for(lambda: _usage_records(signals), message="a usage record")
    (record,) = _usage_records(signals)
    text = str(record.attributes) + str(record.body)
    assert "basil" not in text and fake_openai.reply not in text
    assert set(record.attributes) <= USAGE_KEYS | {"otel_llm.usage.status", "otel_llm.usage.duration"}


_GLOBAL_LOGS_APP = """
import json
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from otel_llm import _config
from otel_llm._emit import usage
from otel_llm._emit.telemetry import Telemetry
from otel_llm._record import InvocationRecord

built = []
attributes_of = usage.usage_attributes
usage.usage_attributes = lambda *args: built.append(1) or attributes_of(*args)
telemetry = Telemetry(_config.resolve(), TracerProvider(), MeterProvider())  # the global logger provider
record = InvocationRecord(call_id="c1", operation="chat", start_ns=1_000, end_ns=2_000)
telemetry.emit(record)
before = len(built)
exporter = InMemoryLogExporter()
provider = LoggerProvider()
provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
set_logger_provider(provider)
telemetry.emit(record)
records = [data.log_record for data in exporter.get_finished_logs()]
print(json.dumps({"built_before": before, "built_after": len(built) - before,
                  "events": [r.event_name for r in records]}))
"""


def test_usage_records_are_built_once_an_application_sets_a_logger_provider() -> None:
    """On the global logger provider, while none is set (the API drops every record), a usage
    record is not even built; the first attempt after the application sets one gets its record.
    (A subprocess: the global provider can be set once per process.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-c", _GLOBAL_LOGS_APP], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"built_before": 0, "built_after": 1, "events": ["otel_llm.usage"]}
