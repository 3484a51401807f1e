"""The spend dashboard's agent and cache sections: who spends behind a key (the agent, from LiteLLM's
``x-litellm-agent-id`` header or ``metadata.agent_id``), and what the provider's prompt cache saves.

Per-agent spend, calls and tokens come from the per-key counters (key, team and agent on each
series); the cache from the tokens counter's ``cache_read`` type (part of input) and the savings
counter (USD the cache reads saved at the model's input price, by model group, team and agent).
"""

from __future__ import annotations

from panels import (
    AGENT,
    CALLS,
    KEY,
    KEYED_CALLS,
    MODEL,
    REQUESTS,
    SPEND,
    TEAM,
    TOKENS,
    USD_PER_HOUR,
    Panel,
    agents,
    grid,
    in_range,
    keyed,
    query,
    side_by_side,
    ts,
    with_units,
)

PER_HOUR = " * 3600"
SAVINGS = "otel_llm_client_cache_savings_USD_total"
COMPONENTS = "otel_llm_client_component_spend_USD_total"
AGENT_LEGEND = f"{{{{{AGENT}}}}}"


def _tokens(selector: str, kinds: str) -> str:
    return f'{TOKENS}{{{selector}, otel_llm_token_type=~"{kinds}"}}'


def agent_spend() -> list[Panel]:
    """Spend and tokens by agent over time, and each agent's spend, calls and tokens on each key."""
    spend = f"{SPEND}{{{KEYED_CALLS}}}"
    tokens = _tokens(KEYED_CALLS, "input|output")
    row = f"{AGENT}, {KEY}, {TEAM}"

    def total(selector: str) -> str:
        return f"sum by ({row}) ({agents(keyed(in_range(selector)))})"

    columns = {"Value #A": "Spend", "Value #B": "Calls", "Value #C": "Input tokens", "Value #D": "Output tokens"}
    table = grid(
        "Agents: spend, calls and tokens",
        "Each agent on each key in the time range: USD spent, calls (every attempt) and tokens (input includes "
        "cache reads). Calls that name no agent are (none); keys without an alias by their hash.",
        [
            query(total(spend), instant=True),
            query(total(f"{REQUESTS}{{{KEYED_CALLS}}}"), instant=True),
            query(total(_tokens(KEYED_CALLS, "input")), instant=True),
            query(total(_tokens(KEYED_CALLS, "output")), instant=True),
        ],
        "currencyUSD",
        24,
    ).transformations(side_by_side({AGENT: "Agent", KEY: "Key", TEAM: "Team", **columns}))
    return [
        ts(
            "Spend by agent",
            "USD per hour by agent (gen_ai.agent.id: LiteLLM's x-litellm-agent-id header or metadata.agent_id); "
            "calls that name no agent as (none).",
            [query(f"sum by ({AGENT}) ({agents(f'rate({spend}[$__rate_interval])')}){PER_HOUR}", AGENT_LEGEND)],
            USD_PER_HOUR,
        ),
        ts(
            "Tokens by agent",
            "Tokens per second by agent, input (prompt, cache reads included) and output (completion).",
            [
                query(
                    f"sum by ({AGENT}, otel_llm_token_type) ({agents(f'rate({tokens}[$__rate_interval])')})",
                    f"{AGENT_LEGEND} {{{{otel_llm_token_type}}}}",
                )
            ],
            "short",
        ),
        with_units(table, {"Calls": "short", "Input tokens": "short", "Output tokens": "short"}),
    ]


def cache() -> list[Panel]:
    """The prompt cache per model group and agent (hit ratio, USD saved), and spend by cost component."""
    row = f"{MODEL}, {AGENT}"
    inputs, reads = _tokens(CALLS, "input"), _tokens(CALLS, "cache_read")

    def total(selector: str) -> str:
        return f"sum by ({row}) ({agents(in_range(selector))})"

    def per_second(selector: str) -> str:
        return f"sum by ({row}) ({agents(f'rate({selector}[$__rate_interval])')})"

    columns = {"Value #A": "Input tokens", "Value #B": "Cache reads", "Value #C": "Hit ratio", "Value #D": "USD saved"}
    table = grid(
        "Prompt cache: hit ratio and USD saved",
        "Per model group and agent (all keys) in the time range: input tokens, the part the provider read from "
        "its prompt cache, their ratio, and the USD the cache saved (what those tokens would have cost at the "
        "model's input price, less what they cost; LiteLLM's price map).",
        [
            query(total(inputs), instant=True),
            query(total(reads), instant=True),
            query(f"({total(reads)} or {total(inputs)} * 0) / ({total(inputs)} > 0)", instant=True),
            query(total(f"{SAVINGS}{{{CALLS}}}"), instant=True),
        ],
        "short",
        24,
    ).transformations(side_by_side({MODEL: "Model group", AGENT: "Agent", **columns}))
    return [
        with_units(table, {"Hit ratio": "percentunit", "USD saved": "currencyUSD"}),
        ts(
            "Prompt cache hit ratio by agent",
            "Share of input tokens read from the provider's prompt cache, by model group and agent "
            "(alert: a busy agent's ratio under half its usual).",
            [
                query(
                    f"({per_second(reads)} or {per_second(inputs)} * 0) / ({per_second(inputs)} > 0)",
                    f"{{{{{MODEL}}}}} {AGENT_LEGEND}",
                )
            ],
            "percentunit",
        ),
        ts(
            "Spend by cost component",
            "USD per hour by LiteLLM's cost breakdown: input (uncached), output, cache reads, cache creation, "
            "reasoning (part of output) and tool use.",
            [
                query(
                    f"sum by (otel_llm_cost_component) (rate({COMPONENTS}{{{CALLS}}}[$__rate_interval])){PER_HOUR}",
                    "{{otel_llm_cost_component}}",
                )
            ],
            USD_PER_HOUR,
        ),
    ]
