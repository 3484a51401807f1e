"""The gateway's other hops end to end (the package's stack, conftest.py): MCP tool calls, a guardrail and
A2A calls through the main proxy → the Collector → Tempo and Prometheus: one span per tool call, never
its arguments in Tempo, and exact counts in the series the "Tools and guardrails" dashboard reads."""

from __future__ import annotations

from typing import Any

import pytest

from tests.collector.e2e.helpers import panel_targets, substitute
from tests.collector.e2e.world import GUARDRAIL, MAIN_SERVICE, Stack, Traffic
from tests.collector.stack import wait_until

pytestmark = pytest.mark.e2e

SERVER = 2
WAVES = 2  # drive_traffic's waves, each with drive_hops' calls


def _total(stack: Stack, expr: str) -> float:
    return sum(float(r["value"][1]) for r in stack.prometheus.query(expr))


def test_one_span_per_tool_call_in_tempo_and_no_arguments(stack: Stack, traffic: Traffic) -> None:
    """Each tool call is one execute_tool SERVER span in Tempo (the mcp package's spans are replaced and
    folded); the proxy captured arguments and results (content capture on) and the Collector dropped them."""

    def spans() -> list[dict[str, Any]] | None:
        found = [s for s in stack.tempo.spans() if s["name"] == "execute_tool calc-add"]
        return found if len(found) >= 3 * WAVES else None

    adds = wait_until(spans, 30, "the tool calls' spans in Tempo")
    assert len(adds) == 3 * WAVES and {s["kind"] for s in adds} == {SERVER}
    everything = stack.tempo.spans()
    assert not [s for s in everything if s["scope"] == "mcp-python-sdk"]
    assert not [s for s in everything if "gen_ai.tool.call.arguments" in s["attributes"]]
    assert not [s for s in everything if "gen_ai.tool.call.result" in s["attributes"]]
    assert {s["attributes"]["otel_llm.mcp.server.name"] for s in adds} == {"calc"}
    assert {s["attributes"]["otel_llm.key.alias"] for s in adds} == {"agent-alpha"}


def test_tool_guardrail_and_agent_counts_are_exact_in_prometheus(stack: Stack, traffic: Traffic) -> None:
    """What drive_hops did, counted exactly through the Collector: tool calls and their cost per key and
    tool, the refused tool apart from the failing one, the guardrail's decisions, the A2A calls."""
    service = f'service_name="{MAIN_SERVICE}"'
    calls = f'otel_llm_mcp_tool_calls_total{{{service}, otel_llm_key_alias="agent-alpha"'
    evaluations = f'otel_llm_guardrail_evaluations_total{{{service}, otel_llm_guardrail_name="{GUARDRAIL}"'
    agents = f'otel_llm_agent_calls_total{{{service}, gen_ai_agent_name="echo"'
    expected = {
        f'{calls}, gen_ai_tool_name="calc-add"}}': 3 * WAVES,
        f'{calls}, gen_ai_tool_name="calc-fail", error_type="tool_error"}}': WAVES,
        f'{calls}, gen_ai_tool_name="calc-echo"}}': 0,  # refused: it never ran
        f'otel_llm_mcp_tool_spend_USD_total{{{service}, gen_ai_tool_name="calc-add"}}': 0.002 * 3 * WAVES,
        f'otel_llm_proxy_refusals_total{{{service}, gen_ai_operation_name="execute_tool", '
        'otel_llm_refusal_reason="permission"}': WAVES,
        f'{evaluations}, otel_llm_guardrail_decision="pass"}}': WAVES,
        f'{evaluations}, otel_llm_guardrail_decision="block", otel_llm_team_alias="Team B"}}': WAVES,
        f"{agents}}}": 2 * WAVES,
        f'{agents}, error_type!=""}}': WAVES,
    }

    def counted() -> dict[str, float]:
        return {expr: _total(stack, expr) for expr in expected}

    def settled() -> dict[str, float] | None:  # the second wave's points may still be on their way
        found = counted()
        return found if all(found[e] >= v - 1e-9 for e, v in expected.items()) else None

    wait_until(settled, 30, "the hops' counts scraped by Prometheus", interval=0.5)
    assert counted() == {expr: pytest.approx(value) for expr, value in expected.items()}
    # No tool call, listing or A2A call in the GenAI client metrics.
    operations = stack.prometheus.query(
        "count by (gen_ai_operation_name) (gen_ai_client_operation_duration_seconds_count)"
    )
    assert {r["metric"]["gen_ai_operation_name"] for r in operations} == {"chat"}
    # The dashboard's refusals panel says the same.
    (refusals,) = panel_targets("Tool refusals by reason")
    reasons = {r["metric"]["otel_llm_refusal_reason"] for r in stack.prometheus.query(substitute(refusals))}
    assert reasons == {"permission"}
