"""The "LLM spend and usage" dashboard: what LiteLLM calls cost, who made them (key, team, agent), what
the prompt cache saves, and how much budget is left. Sections are functions returning panels
(agents and the cache in economics.py, budgets in budget.py), so a new one is one function and one
line in ``SECTIONS``.

Spend, calls and tokens per key come from the per-key counters (exact per key); the histograms carry
no key."""

from __future__ import annotations

from budget import budgets
from economics import agent_spend, cache
from grafana_foundation_sdk.builders import dashboard
from panels import (
    CALLS,
    KEY,
    KEYED_CALLS,
    MODEL,
    PERFORMANCE_UID,
    REQUESTS,
    SPEND,
    SPEND_UID,
    TEAM,
    TOKENS,
    USD_PER_HOUR,
    Panel,
    base,
    firing,
    grid,
    in_range,
    keyed,
    query,
    rate,
    single,
    ts,
)

SPEND_SELECTOR = f"{SPEND}{{{KEYED_CALLS}}}"
PER_HOUR = " * 3600"


def _alerts() -> list[Panel]:
    return [
        firing(
            "Budget and spend alerts firing",
            "Budget, spend-velocity, prompt-cache and runaway-loop alerts firing now (each links its runbook from "
            "Slack).",
            "LLM(Key|Team)Budget.*|LLMKeySpendVelocityAnomaly|LLMAgentCacheHitRatioDrop|LLMRunawayLoop.*",
        )
    ]


def _spend() -> list[Panel]:
    top = f"topk(10, sum by ({KEY}, {TEAM}) ({keyed(in_range(SPEND_SELECTOR))}))"
    by_key = f"sum by ({KEY}) ({keyed(f'rate({SPEND_SELECTOR}[$__rate_interval])')}){PER_HOUR}"
    return [
        single(
            "Spend in range",
            "USD spent in the selected time range (LiteLLM's response_cost, exact per key).",
            query(f"sum({in_range(SPEND_SELECTOR)})"),
            "currencyUSD",
        ),
        grid(
            "Top spenders",
            "The 10 keys that spent most in the time range, in USD (keys without an alias by their hash).",
            [query(top, instant=True)],
            "currencyUSD",
            18,
        ),
        ts(
            "Spend by key",
            "USD per hour by virtual key (keys without an alias by their hash).",
            [query(by_key, f"{{{{{KEY}}}}}")],
            USD_PER_HOUR,
        ),
        ts(
            "Spend by team",
            "USD per hour by team.",
            [query(rate(TEAM, SPEND_SELECTOR) + PER_HOUR, f"{{{{{TEAM}}}}}")],
            USD_PER_HOUR,
        ),
        ts(
            "Spend by model",
            "USD per hour by model group.",
            [query(rate(MODEL, SPEND_SELECTOR) + PER_HOUR)],
            USD_PER_HOUR,
        ),
        ts(
            "Spend by provider",
            "USD per hour by provider.",
            [query(rate("gen_ai_provider_name", SPEND_SELECTOR) + PER_HOUR, "{{gen_ai_provider_name}}")],
            USD_PER_HOUR,
        ),
    ]


def _usage() -> list[Panel]:
    tokens = f'{TOKENS}{{{KEYED_CALLS}, otel_llm_token_type=~"input|output"}}'
    calls = f"{REQUESTS}{{{KEYED_CALLS}}}"
    return [
        ts(
            "Prompt vs completion tokens",
            "Tokens per second: input (prompt, cache reads included) and output (completion).",
            [query(rate("otel_llm_token_type", tokens), "{{otel_llm_token_type}}")],
            "short",
        ),
        ts(
            "Tokens by model",
            "Tokens per second by model group and type.",
            [query(rate(f"{MODEL}, otel_llm_token_type", tokens), f"{{{{{MODEL}}}}} {{{{otel_llm_token_type}}}}")],
            "short",
        ),
        ts(
            "Calls by key",
            "LLM calls per second (every attempt) by key.",
            [query(f"sum by ({KEY}) ({keyed(f'rate({calls}[$__rate_interval])')})", f"{{{{{KEY}}}}}")],
            "reqps",
        ),
        ts(
            "Accounting issues",
            "Calls per second whose tokens LiteLLM estimated or never got, or that it could not price (cost 0).",
            [
                query(
                    rate("otel_llm_accounting_issue", f"otel_llm_client_accounting_issues_total{{{CALLS}}}", "increase")
                )
            ],
            "short",
        ),
    ]


# (row title, panels): the dashboard's sections, top to bottom.
SECTIONS = (
    ("Alerts", _alerts),
    ("Spend", _spend),
    ("Agents", agent_spend),
    ("Usage", _usage),
    ("Prompt cache and cost components", cache),
    ("Budgets", budgets),
)


def spend_dashboard() -> dashboard.Dashboard:
    """LLM spend and usage: alerts, spend by key/team/model/provider and agent, tokens, the prompt cache,
    budgets, top spenders."""
    board = base(
        SPEND_UID,
        "LLM spend and usage",
        "What LiteLLM calls cost and who made them (otel-llm).",
        (PERFORMANCE_UID, "LLM performance and reliability"),
    )
    for title, section in SECTIONS:
        board = board.with_row(dashboard.Row(title))
        for panel in section():
            board = board.with_panel(panel)
    return board
