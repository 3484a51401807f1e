"""The "LLM spend and usage" dashboard: what LiteLLM calls cost, who made them, and how much budget
is left. Sections are functions returning panels, so a new one (budget reset times from LiteLLM's
database, per-agent spend, cache savings) is one function and one line in ``spend_dashboard``."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from panels import (
    CALLS,
    COST,
    DURATION,
    KEY,
    MODEL,
    PERFORMANCE_UID,
    SERVICE,
    SPEND_UID,
    TEAM,
    TOKENS,
    USD_PER_HOUR,
    WHO,
    Panel,
    bars,
    base,
    firing,
    grid,
    keyed,
    query,
    rate,
    side_by_side,
    single,
    ts,
)

COST_SELECTOR = f"{COST}{{{CALLS}}}"
PER_HOUR = " * 3600"


def _alerts() -> list[Panel]:
    return [
        firing(
            "Budget and spend alerts firing",
            "Budget, spend-velocity and runaway-loop alerts firing now (each links its runbook from Slack).",
            "LLM(Key|Team)Budget.*|LLMKeySpendVelocityAnomaly|LLMRunawayLoop.*",
        )
    ]


def _spend() -> list[Panel]:
    top = f"topk(10, sum by ({KEY}, {TEAM}) ({keyed(f'increase({COST_SELECTOR}[$__range])')}))"
    by_key = f"sum by ({KEY}) ({keyed(f'rate({COST_SELECTOR}[$__rate_interval])')}){PER_HOUR}"
    return [
        single(
            "Spend in range",
            "USD spent in the selected time range (LiteLLM's response_cost).",
            query(f"sum(increase({COST_SELECTOR}[$__range]))"),
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
            [query(rate(TEAM, COST_SELECTOR) + PER_HOUR, f"{{{{{TEAM}}}}}")],
            USD_PER_HOUR,
        ),
        ts(
            "Spend by model",
            "USD per hour by model group.",
            [query(rate(MODEL, COST_SELECTOR) + PER_HOUR)],
            USD_PER_HOUR,
        ),
        ts(
            "Spend by provider",
            "USD per hour by provider.",
            [query(rate("gen_ai_provider_name", COST_SELECTOR) + PER_HOUR, "{{gen_ai_provider_name}}")],
            USD_PER_HOUR,
        ),
    ]


def _usage() -> list[Panel]:
    tokens = f"{TOKENS}{{{CALLS}}}"
    calls = f"{DURATION}_count{{{CALLS}}}"
    return [
        ts(
            "Prompt vs completion tokens",
            "Tokens per second: input (prompt) and output (completion).",
            [query(rate("gen_ai_token_type", tokens), "{{gen_ai_token_type}}")],
            "short",
        ),
        ts(
            "Tokens by model",
            "Tokens per second by model group and type.",
            [query(rate(f"{MODEL}, gen_ai_token_type", tokens), f"{{{{{MODEL}}}}} {{{{gen_ai_token_type}}}}")],
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


def _left(who: str, selector: str, spend: str, budget: str, by_key: bool) -> list[str]:
    """Spend, max budget, USD left and days left at the last day's pace, one row per ``who``."""

    def series(expr: str) -> str:
        return keyed(expr) if by_key else expr

    spent = f"max by ({who}) ({series(f'{spend}{{{selector}}}')})"
    limit = f"max by ({who}) ({series(f'{budget}{{{selector}}}')})"
    pace = f"sum by ({who}) ({series(f'rate({COST}{{{selector}}}[1d])')}) * 86400"
    return [spent, limit, f"{limit} - {spent}", f"({limit} - {spent}) / ({pace} > 0)"]


def _budgets() -> list[Panel]:
    team_selector = f'{SERVICE}, {TEAM}=~"$team"'
    key_rows = _left(f"{KEY}, {TEAM}", WHO, "otel_llm_key_spend_USD", "otel_llm_key_max_budget_USD", by_key=True)
    team_rows = _left(TEAM, team_selector, "otel_llm_team_spend_USD", "otel_llm_team_max_budget_USD", by_key=False)
    columns = {"Value #A": "Spend", "Value #B": "Max budget", "Value #C": "USD left", "Value #D": "Days left"}
    return [
        bars(
            "Key budget used",
            "Spend / max_budget per key as LiteLLM reports it (alerts at 80% and 100%).",
            query(f"max by ({KEY}, {TEAM}) ({keyed(f'otel_llm_key_budget_utilization_ratio{{{WHO}}}')})", instant=True),
        ),
        bars(
            "Team budget used",
            "Spend / max_budget per team.",
            query(f"max by ({TEAM}) (otel_llm_team_budget_utilization_ratio{{{team_selector}}})", instant=True),
        ),
        grid(
            "Key spend and budget",
            "Each key's spend and max_budget in USD as LiteLLM last reported them, the USD left before "
            "LiteLLM refuses the key, and the days that lasts at the pace of the last day (empty: no "
            "spend in the last day). Reset dates come from LiteLLM's database, not shown here yet.",
            [query(q, instant=True) for q in key_rows],
            "currencyUSD",
            24,
        ).transformations(side_by_side({KEY: "Key", TEAM: "Team", **columns})),
        grid(
            "Team spend and budget",
            "Each team's spend and max_budget in USD, the USD left before LiteLLM refuses all its keys, and "
            "the days that lasts at the pace of the last day.",
            [query(q, instant=True) for q in team_rows],
            "currencyUSD",
            24,
        ).transformations(side_by_side({TEAM: "Team", **columns})),
    ]


# (row title, panels): the dashboard's sections, top to bottom.
SECTIONS = (
    ("Alerts", _alerts),
    ("Spend", _spend),
    ("Usage", _usage),
    ("Budgets", _budgets),
)


def spend_dashboard() -> dashboard.Dashboard:
    """LLM spend and usage: alerts, spend by key/team/model/provider, tokens, budgets, top spenders."""
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
