"""The "Tools and guardrails" dashboard: the gateway's hops that are not LLM calls. MCP tool calls
(latency and errors by server and tool, the top tools by calls and cost per team and agent, refusals),
guardrails (the latency they add, their decisions, blocks by team) and agent-to-agent (A2A) calls.

Tool calls, their cost and guardrail decisions come from per-key counters (key, team and agent on
each series); durations from histograms with the groups only (team, agent), as for LLM calls.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from panels import (
    AGENT,
    GROUPS,
    KEY,
    PERFORMANCE_UID,
    TEAM,
    USD_PER_HOUR,
    WHO,
    Panel,
    agents,
    base,
    firing,
    grid,
    in_range,
    keyed,
    query,
    rate,
    side_by_side,
    ts,
    with_units,
)

TOOLS_UID = "otel-llm-tools"
TOOL = "gen_ai_tool_name"
SERVER = "otel_llm_mcp_server_name"
GUARDRAIL = "otel_llm_guardrail_name"
MODE = "otel_llm_guardrail_mode"
DECISION = "otel_llm_guardrail_decision"
AGENT_NAME = "gen_ai_agent_name"
TOOL_CALLS = f"otel_llm_mcp_tool_calls_total{{{WHO}}}"
TOOL_ERRORS = f'otel_llm_mcp_tool_calls_total{{{WHO}, error_type!=""}}'
TOOL_SPEND = f"otel_llm_mcp_tool_spend_USD_total{{{WHO}}}"
MCP_DURATION = "mcp_server_operation_duration_seconds"
TOOL_BUCKETS = f'{MCP_DURATION}_bucket{{{GROUPS}, mcp_method_name="tools/call", error_type=""}}'
GUARDRAIL_DURATION = "otel_llm_guardrail_duration_seconds"
EVALUATIONS = f"otel_llm_guardrail_evaluations_total{{{WHO}}}"
AGENT_CALLS = f"otel_llm_agent_calls_total{{{WHO}}}"
AGENT_ERRORS = f'otel_llm_agent_calls_total{{{WHO}, error_type!=""}}'
AGENT_DURATION = "otel_llm_agent_call_duration_seconds"
PER_HOUR = " * 3600"


def _alerts() -> list[Panel]:
    return [
        firing(
            "Tool, guardrail and loop alerts firing",
            "MCP server, guardrail and runaway-loop alerts firing now (tool loops included; each links its runbook "
            "from Slack).",
            "LLMMCPServerFailing|LLMGuardrail.*|LLMRunawayLoop.*",
        )
    ]


def _tools() -> list[Panel]:
    by_tool = f"{SERVER}, {TOOL}"
    tool_legend = f"{{{{{SERVER}}}}} {{{{{TOOL}}}}}"
    no_errors = f"{rate(SERVER, TOOL_CALLS)} * 0"
    return [
        ts(
            "Tool calls by tool",
            "MCP tool calls per second the proxy served, by upstream server and tool (the tool as the client "
            "named it; calls the proxy refused are not here).",
            [query(rate(by_tool, TOOL_CALLS), tool_legend)],
            "reqps",
            8,
        ),
        ts(
            "Tool latency p95 by tool",
            "95th percentile time from the proxy receiving a tools/call to answering it (successful calls), by "
            "server and tool: the upstream server's time plus the proxy's (permissions, guardrails).",
            [query(f"histogram_quantile(0.95, {rate(f'le, {by_tool}', TOOL_BUCKETS)})", tool_legend)],
            "s",
            8,
        ),
        ts(
            "Tool errors by server",
            "Share of each MCP server's tool calls that failed: tool_error (the tool answered isError), a "
            "JSON-RPC error code, or the upstream unreachable (alert LLMMCPServerFailing over 20%).",
            [query(f"{rate(SERVER, TOOL_ERRORS)} / {rate(SERVER, TOOL_CALLS)} or {no_errors}", f"{{{{{SERVER}}}}}")],
            "percentunit",
            8,
        ),
        ts(
            "MCP operations by method",
            "Every MCP operation the proxy served per second, by method (initialize, tools/list, tools/call, "
            "prompts/get, resources/read, …), failed ones included.",
            [query(rate("mcp_method_name", f"{MCP_DURATION}_count{{{GROUPS}}}"), "{{mcp_method_name}}")],
            "reqps",
            8,
        ),
        ts(
            "Tool refusals by reason",
            "Tool calls the proxy refused before the tool ran, per second, by reason (permission: the key may "
            "not use the server or tool; rate_limit; guardrail: a pre_mcp_call guardrail; loop_guard) and server.",
            [
                query(
                    rate(
                        f"otel_llm_refusal_reason, {SERVER}",
                        f'otel_llm_proxy_refusals_total{{{WHO}, gen_ai_operation_name="execute_tool"}}',
                    ),
                    f"{{{{otel_llm_refusal_reason}}}} {{{{{SERVER}}}}}",
                )
            ],
            "reqps",
            8,
        ),
        ts(
            "Tool spend by team",
            "USD per hour of MCP tool calls (LiteLLM's MCP cost tracking: mcp_server_cost_info) by team.",
            [query(f"{rate(TEAM, TOOL_SPEND)}{PER_HOUR}", f"{{{{{TEAM}}}}}")],
            USD_PER_HOUR,
            8,
        ),
        _top_tools(),
    ]


def _top_tools() -> Panel:
    row = f"{TEAM}, {AGENT}, {TOOL}"

    def top(selector: str) -> str:
        return f"topk(20, sum by ({row}) ({agents(in_range(selector))}))"

    calls, spend = top(TOOL_CALLS), top(TOOL_SPEND)
    columns = {TEAM: "Team", AGENT: "Agent", TOOL: "Tool", "Value #A": "Calls", "Value #B": "Spend"}
    table = grid(
        "Top tools by calls and cost, per team and agent",
        "The 20 busiest tools of each kind in the time range, per team and agent ((none): calls naming no "
        "agent): calls and what LiteLLM's MCP cost tracking charged for them.",
        [query(calls, instant=True), query(spend, instant=True)],
        "short",
        24,
    ).transformations(side_by_side(columns))
    return with_units(table, {"Spend": "currencyUSD"})


def _guardrails() -> list[Panel]:
    buckets = f"{GUARDRAIL_DURATION}_bucket{{{GROUPS}}}"
    blocks = f'otel_llm_guardrail_evaluations_total{{{WHO}, {DECISION}="block"}}'
    return [
        ts(
            "Guardrail latency p95",
            "95th percentile time each guardrail adds to a request, by guardrail and mode (pre_call, "
            "during_call, post_call, pre_mcp_call, …; alert LLMGuardrailOverLatencyBudget).",
            [
                query(
                    f"histogram_quantile(0.95, {rate(f'le, {GUARDRAIL}, {MODE}', buckets)})",
                    f"{{{{{GUARDRAIL}}}}} {{{{{MODE}}}}}",
                )
            ],
            "s",
            8,
        ),
        ts(
            "Guardrail time added per evaluation",
            "Average seconds per evaluation, by guardrail: what a request pays for each guardrail it passes.",
            [
                query(
                    f"{rate(GUARDRAIL, f'{GUARDRAIL_DURATION}_sum{{{GROUPS}}}')}"
                    f" / {rate(GUARDRAIL, f'{GUARDRAIL_DURATION}_count{{{GROUPS}}}')}",
                    f"{{{{{GUARDRAIL}}}}}",
                )
            ],
            "s",
            8,
        ),
        ts(
            "Guardrail decisions",
            "Evaluations per second by guardrail and decision: pass, block, mask, flag, error (the guardrail "
            "itself failed; LiteLLM answers the request with an error).",
            [query(rate(f"{GUARDRAIL}, {DECISION}", EVALUATIONS), f"{{{{{GUARDRAIL}}}}} {{{{{DECISION}}}}}")],
            "reqps",
            8,
        ),
        grid(
            "Blocks by team and guardrail",
            "Requests and tool calls each guardrail blocked in the time range, by team and key (alert "
            "LLMGuardrailBlockSpike).",
            [query(f"sum by ({TEAM}, {KEY}, {GUARDRAIL}) ({keyed(in_range(blocks))}) > 0", instant=True)],
            "short",
            16,
        ).decimals(0),
    ]


def _agent_calls() -> list[Panel]:
    calls = rate(f"{AGENT_NAME}, error_type", AGENT_CALLS)
    return [
        ts(
            "Agent-to-agent calls",
            "A2A calls per second the proxy routed, by agent called, failed ones by error type.",
            [query(calls, f"{{{{{AGENT_NAME}}}}} {{{{error_type}}}}")],
            "reqps",
            8,
        ),
        ts(
            "Agent-to-agent latency p95",
            "95th percentile duration of A2A calls by agent called (the agent's own work included).",
            [
                query(
                    f"histogram_quantile(0.95, {rate(f'le, {AGENT_NAME}', f'{AGENT_DURATION}_bucket{{{GROUPS}}}')})",
                    f"{{{{{AGENT_NAME}}}}}",
                )
            ],
            "s",
            8,
        ),
        ts(
            "Agent-to-agent errors",
            "Share of each agent's A2A calls that failed.",
            [
                query(
                    f"{rate(AGENT_NAME, AGENT_ERRORS)} / {rate(AGENT_NAME, AGENT_CALLS)}"
                    f" or {rate(AGENT_NAME, AGENT_CALLS)} * 0",
                    f"{{{{{AGENT_NAME}}}}}",
                )
            ],
            "percentunit",
            8,
        ),
    ]


SECTIONS = (
    ("Alerts", _alerts),
    ("MCP tools", _tools),
    ("Guardrails", _guardrails),
    ("Agent-to-agent", _agent_calls),
)


def tools_dashboard() -> dashboard.Dashboard:
    """Tools and guardrails: MCP tool calls, guardrail overhead and decisions, A2A calls."""
    board = base(
        TOOLS_UID,
        "Tools and guardrails",
        "The gateway's hops that are not LLM calls (otel-llm): MCP tool calls by server and tool, guardrails' "
        "latency and decisions, agent-to-agent calls. Filters: service, team, key, agent.",
        (PERFORMANCE_UID, "LLM performance and reliability"),
    )
    for title, section in SECTIONS:
        board = board.with_row(dashboard.Row(title))
        for panel in section():
            board = board.with_panel(panel)
    return board
