"""The spend dashboard's budget section: for each level LiteLLM budgets (key, team), a bar per row of
the share used and a table of spend, budget, USD left and days left, from the headroom gauges the
proxy reports (otel_llm_<level>_spend_USD, _max_budget_USD, _budget_utilization_ratio) and the
per-key spend counter's pace.

Budget state from LiteLLM's database (the budget poller: gauges for every key and team whether it
calls or not) adds when each budget resets (``<reset timestamp gauge> - time()``) and whether LiteLLM
blocks the key or team; both are empty for a proxy without a database. Built from two tables, so
another level (users, orgs, customers) is a ``Level`` line and another figure a ``Column`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from panels import (
    KEY,
    KEY_GAUGES,
    SERVICE,
    SPEND,
    TEAM,
    Panel,
    bars,
    grid,
    keyed,
    query,
    side_by_side,
    with_units,
)


@dataclass(frozen=True)
class Level:
    """Who a budget belongs to: its rows, filter and gauges."""

    name: str  # "Key", "Team": panel titles
    labels: dict[str, str]  # label → column title: one row per value
    selector: str  # the dashboard's filters that apply to it
    prefix: str  # otel_llm_key, otel_llm_team: its gauges' names
    by_key: bool  # rows are keys: alias-less keys named by their hash

    @property
    def by(self) -> str:
        return ", ".join(self.labels)

    def series(self, expr: str) -> str:
        return keyed(expr) if self.by_key else expr

    def gauge(self, suffix: str) -> str:
        """One value per row of the gauge ``<prefix>_<suffix>`` (the same from every worker)."""
        return f"max by ({self.by}) ({self.series(f'{self.prefix}_{suffix}{{{self.selector}}}')})"

    def pace(self) -> str:
        """USD per day at the last day's pace, from the per-key spend counter."""
        return f"sum by ({self.by}) ({self.series(f'rate({SPEND}{{{self.selector}}}[1d])')}) * 86400"


@dataclass(frozen=True)
class Column:
    """One column of a level's budget table: an instant query with one value per row."""

    title: str
    expr: Callable[[Level], str]
    unit: str = "currencyUSD"


def _left(level: Level) -> str:
    return f"{level.gauge('max_budget_USD')} - {level.gauge('spend_USD')}"


LEVELS = (
    Level("Key", {KEY: "Key", TEAM: "Team"}, KEY_GAUGES, "otel_llm_key", by_key=True),
    Level("Team", {TEAM: "Team"}, f'{SERVICE}, {TEAM}=~"$team"', "otel_llm_team", by_key=False),
)
COLUMNS = (
    Column("Spend", lambda level: level.gauge("spend_USD")),
    Column("Max budget", lambda level: level.gauge("max_budget_USD")),
    Column("USD left", _left),
    Column("Days left", lambda level: f"({_left(level)}) / ({level.pace()} > 0)", unit="d"),
    Column("Resets in", lambda level: f"{level.gauge('budget_reset_time_seconds')} - time()", unit="s"),
    Column("Blocked", lambda level: level.gauge("blocked"), unit="bool_yes_no"),
)
_DESCRIPTIONS = {
    "Key": "Each key's spend and max_budget in USD as LiteLLM last reported them, the USD left before LiteLLM "
    "refuses the key, the days that lasts at the pace of the last day (empty: no spend in the last day), "
    "when LiteLLM resets its budget and whether LiteLLM blocks the key (both from LiteLLM's database: empty "
    "without the budget poller).",
    "Team": "Each team's spend and max_budget in USD, the USD left before LiteLLM refuses all its keys, the "
    "days that lasts at the pace of the last day, when its budget resets and whether LiteLLM blocks it.",
}
_BARS = {
    "Key": "Spend / max_budget per key as LiteLLM reports it (alerts at 80% and 100%).",
    "Team": "Spend / max_budget per team.",
}


def _used(level: Level) -> Panel:
    return bars(
        f"{level.name} budget used", _BARS[level.name], query(level.gauge("budget_utilization_ratio"), instant=True)
    )


def _table(level: Level) -> Panel:
    refs = "ABCDEFGH"
    columns = {**level.labels, **{f"Value #{refs[i]}": column.title for i, column in enumerate(COLUMNS)}}
    panel = grid(
        f"{level.name} spend and budget",
        _DESCRIPTIONS[level.name],
        [query(column.expr(level), instant=True) for column in COLUMNS],
        "currencyUSD",
        24,
    ).transformations(side_by_side(columns))
    return with_units(panel, {column.title: column.unit for column in COLUMNS if column.unit != "currencyUSD"})


def budgets() -> list[Panel]:
    """Budget used per key and team (bars), then each level's spend, budget, USD left, days left, reset
    and blocked."""
    return [*(_used(level) for level in LEVELS), *(_table(level) for level in LEVELS)]
