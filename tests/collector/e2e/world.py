"""What the end-to-end stack is made of and what runs through it: the processes (conftest.py starts
them), LiteLLM's database the main proxy's budget poller reads (keys and a team that never send
traffic), the traffic through the main proxy (what the proxy answered each agent) and the key churn
through the proxy with small cardinality caps."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from pytest_httpserver import HTTPServer

from tests.budgets.postgres import KeyRow, insert_keys, insert_team
from tests.collector.stack import Alertmanager, Collector, Prometheus, SlackStandIn, wait_until
from tests.fakes import FailingProvider, FakeOpenAI
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import ALPHA, BETA, ProxyProcess
from tests.proxy.hops_harness import a2a_message, mcp_session, result_text

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
# Secret-shaped values the proxy hands to the Collector, which must mask them.
RESOURCE_SECRET = "Bearer tok3n-5f2c9a7e1b4d8c6a"
TAG_SECRET = "sk-live-4f7c2a9e8b1d3f5a7c9e1b3d"
PROMPT = "summarise ticket 4711; my key is sk-user-9a8b7c6d5e4f3a2b1c0d"
LOOP_PROMPT = "are we there yet?"
ALPHA_CALLS = 'otel_llm_client_requests_total{otel_llm_key_alias="agent-alpha"}'
# Prompt tokens the fake provider reports as read from its prompt cache, per (non-streamed) call.
CACHED_TOKENS = 3
# Two agents behind agent-alpha's key (one named by LiteLLM's header, one by request metadata), and
# the agent running agent-beta's runaway loop.
PLANNER, CODER, RUNAWAY = "planner", "coder", "runaway"
MAIN_SERVICE, CHURN_SERVICE = "litellm-proxy", "litellm-proxy-churn"
# The churn proxy: at most CHURN_CAP values per metric attribute among those seen within
# CHURN_IDLE_S seconds, and keys in one team (one team, one model: only keys reach the cap).
CHURN_CAP, CHURN_IDLE_S = 3, 2
CHURN_KEYS = {
    f"sk-vk-churn-{n}-7d1f3a5c9e2b4d6f": {"key_alias": f"churn-{n}", "team_id": "team-c", "team_alias": "Team C"}
    for n in range(1, 7)
}

# In LiteLLM's database only (the main proxy's budget poller reads it): a key that never calls, its
# team, and a key an admin blocked. Under 80% of their budgets: no budget alert fires for them.
IDLE_KEY, IDLE_TEAM, BLOCKED_KEY = "idle-agent", "Platform", "retired-agent"
IDLE_RESET_IN = timedelta(days=10)


def seed_database(db: psycopg.Connection[Any]) -> datetime:
    """LiteLLM's rows for the idle key, its team and the blocked key; returns their budgets' reset time."""
    reset = datetime.now(UTC).replace(microsecond=0) + IDLE_RESET_IN
    insert_team(db, "team-platform", IDLE_TEAM, spend=12.0, max_budget=100.0, budget_reset_at=reset)
    idle = KeyRow("sk-vk-idle-3e5a7c9b1d2f4a6c", IDLE_KEY, "team-platform", spend=1.0, max_budget=10.0)
    idle.budget_duration, idle.budget_reset_at = "30d", reset
    insert_keys(db, [idle, KeyRow("sk-vk-retired-8b6d4f2a0c1e3a5b", BLOCKED_KEY, blocked=True)])
    return reset


# The gateway's other hops on the main proxy: an MCP server (calc; its echo tool disallowed, so calling
# it is a refusal), a guardrail requests name (blocking a topic), an A2A agent (echo).
GUARDRAIL, FORBIDDEN = "topic-filter", "forbidden-topic"


def hops_config(mcp_port: int, agent_port: int) -> dict[str, Any]:
    """config.yaml's mcp_servers, agents and guardrails of the main proxy."""
    card = {"name": "echo", "description": "Reverses text", "url": f"http://127.0.0.1:{agent_port}/"}
    card |= {"version": "1.0.0", "protocolVersion": "1.0", "capabilities": {}, "skills": []}
    card |= {"defaultInputModes": ["text"], "defaultOutputModes": ["text"]}
    costs = {"default_cost_per_query": 0.01, "tool_name_to_cost_per_query": {"add": 0.002}}
    calc = {"url": f"http://127.0.0.1:{mcp_port}/mcp", "transport": "http", "allow_all_keys": True}
    calc |= {"disallowed_tools": ["echo"], "mcp_info": {"mcp_server_cost_info": costs}}
    guardrail = {"guardrail": "litellm_content_filter", "mode": "pre_call", "default_on": False}
    guardrail["blocked_words"] = [{"keyword": FORBIDDEN, "action": "BLOCK"}]
    return {
        "mcp_servers": {"calc": calc},
        "agents": [{"agent_name": "echo", "agent_card_params": card}],
        "guardrails": [{"guardrail_name": GUARDRAIL, "litellm_params": guardrail}],
    }


def drive_hops(proxy: ProxyProcess) -> None:
    """Tool calls through the proxy's MCP gateway (answered, failing, refused), requests its guardrail
    passes and blocks, and A2A calls (answered, failing)."""
    calls = [("call", ("calc-add", {"a": i, "b": 1})) for i in range(3)]
    steps = [
        ("list_tools", None),
        *calls,
        ("call", ("calc-fail", {"reason": "x"})),
        ("call", ("calc-echo", {"text": "x"})),
    ]
    *added, failed, refused = mcp_session(proxy.url, ALPHA, steps)[1:]
    assert [result_text(r) for r in added] == ["1", "2", "3"] and failed.is_error and refused.is_error
    _ok(proxy.chat(ALPHA, text="a harmless question", guardrails=[GUARDRAIL]))
    assert proxy.chat(BETA, text=f"tell me about the {FORBIDDEN}", guardrails=[GUARDRAIL]).status_code == 400
    headers = {"Authorization": f"Bearer {ALPHA}"}
    for text, ok in (("hello agent", True), ("explode", False)):
        answer = httpx.post(f"{proxy.url}/a2a/echo", headers=headers, json=a2a_message(text), timeout=30)
        assert ("error" not in answer.json()) is ok, answer.text


@dataclass
class Stack:
    tempo: OtlpReceiver
    slack: SlackStandIn
    collector: Collector
    prometheus: Prometheus
    alertmanager: Alertmanager
    usage_dir: Path  # the Collector's usage-record file sink


@dataclass
class Providers:
    """What the fake providers served: the main proxy's (fake, broken, unpriced) and the churn proxy's."""

    server: HTTPServer
    fake: FakeOpenAI
    broken: FailingProvider
    unpriced: FakeOpenAI
    churn: FakeOpenAI

    def main_attempts(self) -> int:
        """Every attempt the main proxy's providers served, failures included."""
        return self.fake.served.requests + self.broken.hits + self.unpriced.served.requests


@dataclass
class Proxies:
    main: ProxyProcess
    churn: ProxyProcess


@dataclass
class Answered:
    """What the proxy answered one agent: LiteLLM's cost (x-litellm-response-cost) and the usage it returned."""

    calls: int = 0
    cost: float = 0.0
    input: int = 0
    output: int = 0
    cache_read: int = 0


@dataclass
class Traffic:
    started: float  # time.monotonic() before the first request
    agents: dict[str, Answered] = field(default_factory=dict)


def _ok(response: Any) -> None:
    assert response.status_code == 200, response.text


def _answered(response: Any, into: Answered) -> None:
    """Add what the proxy answered (LiteLLM's cost header, the usage in the body) to one agent's sums."""
    _ok(response)
    usage = response.json()["usage"]
    into.calls += 1
    into.cost += float(response.headers["x-litellm-response-cost"])
    into.input += usage["prompt_tokens"]
    into.output += usage["completion_tokens"]
    into.cache_read += (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0


def drive_traffic(proxy: ProxyProcess, prometheus: Prometheus) -> Traffic:
    """Two waves (so counters grow between scrapes): agent-alpha's agents planner (named by the
    x-litellm-agent-id header) and coder (by metadata.agent_id), each answered with prompt-cache reads;
    a stream; an unpriced model; fallbacks (gpt-flaky fails twice, gpt-backup serves); a request for an
    unknown model (refused by the proxy); tool calls, guardrails and A2A calls (drive_hops); and a
    runaway loop (agent-beta's agent runaway repeating one prompt). agent-alpha is at 85% of its budget."""
    traffic = Traffic(time.monotonic(), {PLANNER: Answered(), CODER: Answered()})

    def wave(first: bool) -> None:
        _answered(proxy.chat(ALPHA, text=PROMPT, headers={"x-litellm-agent-id": PLANNER}), traffic.agents[PLANNER])
        _answered(proxy.chat(ALPHA, text=PROMPT, metadata={"agent_id": CODER}), traffic.agents[CODER])
        _ok(proxy.chat(ALPHA, stream=True, stream_options={"include_usage": True}))
        _ok(proxy.chat(BETA, model="gpt-unpriced"))
        headers = {"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"} if first else {}
        _ok(proxy.chat(BETA, model="gpt-flaky", headers=headers, metadata={"tags": [f"ticket:{TAG_SECRET}"]}))
        assert proxy.chat(ALPHA, model="no-such-model").status_code == 400  # refused by the proxy
        drive_hops(proxy)

    wave(first=True)
    for _ in range(9):  # a runaway loop: 8 identical requests are a detection (observe mode)
        _ok(proxy.chat(BETA, text=LOOP_PROMPT, headers={"x-litellm-agent-id": RUNAWAY}))
    wait_until(lambda: prometheus.query(ALPHA_CALLS), 30, "the first wave's calls scraped by Prometheus")
    wave(first=False)
    return traffic


@dataclass
class Churn:
    folded: str  # the key past the cap while the first keys held every slot
    late: str  # a key that got its own series once the first keys had gone idle


def drive_churn(proxy: ProxyProcess, prometheus: Prometheus) -> Churn:
    """On the churn proxy: three keys take the cap's three slots, a fourth is folded into _OTHER; once
    the first have been idle past the idle timeout, a fifth gets its own series."""
    keys = {info["key_alias"]: key for key, info in CHURN_KEYS.items()}
    calls = iter(range(1000))

    def call(alias: str) -> None:
        _ok(proxy.chat(keys[alias], text=f"churn call {next(calls)}"))

    def scraped(alias: str) -> list[dict[str, Any]]:
        selector = f'service_name="{CHURN_SERVICE}", otel_llm_key_alias="{alias}"'
        return prometheus.query(f"otel_llm_client_requests_total{{{selector}}}")

    for alias in ("churn-1", "churn-2", "churn-3", "churn-4"):
        call(alias)
    wait_until(lambda: scraped("_OTHER"), 30, "churn-4 reported as _OTHER, in Prometheus")

    def late_key_has_its_own_series() -> list[dict[str, Any]]:
        call("churn-5")  # folded while the first keys hold their slots, its own once they went idle
        return scraped("churn-5")

    wait_until(late_key_has_its_own_series, 30, "churn-5 with a series of its own", interval=1.0)
    return Churn(folded="churn-4", late="churn-5")
