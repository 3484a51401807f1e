"""A row of LiteLLM's tables as budget gauge values, under the identity the request path exports.

A key is known by ``otel_llm.key.hash`` = ``salted_key_hash`` of LiteLLM's ``token`` column,
which is the SHA-256 LiteLLM stores for a virtual key and also what the request path hashes
(``metadata.user_api_key_hash``, ``UserAPIKeyAuth.token``), and by the same alias, team id and
team alias, cleaned and truncated the way the request path cleans them, so budget and traffic
series of one key are one series and join. The token itself never leaves this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from .. import _names as n
from .._capture.attribution import salted_key_hash
from .._capture.fields import count, money, number, text
from .._emit.instruments import AttributeValue

Row = Mapping[str, object]
Series = tuple[dict[str, AttributeValue], list[tuple[str, float | None]]]

# Unix seconds accepted as a reset time (1970 .. 2200, as for span times).
_MAX_EPOCH_S: Final = 7_258_118_400.0


def _ratio(spend: float | None, budget: float | None) -> float | None:
    """Spend / budget (above 1 when over budget); none without a positive budget."""
    if spend is None or not budget:
        return None
    return spend / budget


def _epoch(value: object) -> float | None:
    seconds = number(value)
    return seconds if seconds is not None and 0 < seconds < _MAX_EPOCH_S else None


def _limit(value: object) -> float | None:
    limit = count(value)
    return None if limit is None else float(limit)


def _flag(value: object) -> float:
    return 1.0 if value is True else 0.0


def _put(attrs: dict[str, AttributeValue], name: str, value: object, limit: int) -> None:
    cleaned = text(value, limit)
    if cleaned:
        attrs[name] = cleaned


def key_series(row: Row, limit: int) -> Series | None:
    """A virtual key's gauges under its hash, alias and team (as on the request path)."""
    token = text(row.get("token"), 256)
    if not token:
        return None
    # Uncached: one poll walks every key, and would evict the request path's hot keys from the cache.
    attrs: dict[str, AttributeValue] = {n.KEY_HASH: salted_key_hash.__wrapped__(token)}
    _put(attrs, n.KEY_ALIAS, row.get("key_alias"), limit)
    _put(attrs, n.TEAM_ID, row.get("team_id"), limit)
    if n.TEAM_ID in attrs:
        _put(attrs, n.TEAM_ALIAS, row.get("team_alias"), limit)
    spend, budget = money(row.get("spend")), money(row.get("max_budget"))
    return attrs, [
        (n.KEY_SPEND, spend),
        (n.KEY_MAX_BUDGET, budget),
        (n.KEY_BUDGET_UTILIZATION, _ratio(spend, budget)),
        (n.KEY_BUDGET_RESET_TIME, _epoch(row.get("reset_time"))),
        (n.KEY_RPM_LIMIT, _limit(row.get("rpm_limit"))),
        (n.KEY_TPM_LIMIT, _limit(row.get("tpm_limit"))),
        (n.KEY_BLOCKED, _flag(row.get("blocked"))),
    ]


def team_series(row: Row, limit: int) -> Series | None:
    attrs: dict[str, AttributeValue] = {}
    _put(attrs, n.TEAM_ID, row.get("team_id"), limit)
    if not attrs:
        return None
    _put(attrs, n.TEAM_ALIAS, row.get("team_alias"), limit)
    spend, budget = money(row.get("spend")), money(row.get("max_budget"))
    return attrs, [
        (n.TEAM_SPEND, spend),
        (n.TEAM_MAX_BUDGET, budget),
        (n.TEAM_BUDGET_UTILIZATION, _ratio(spend, budget)),
        (n.TEAM_BUDGET_RESET_TIME, _epoch(row.get("reset_time"))),
        (n.TEAM_RPM_LIMIT, _limit(row.get("rpm_limit"))),
        (n.TEAM_TPM_LIMIT, _limit(row.get("tpm_limit"))),
        (n.TEAM_BLOCKED, _flag(row.get("blocked"))),
    ]


def user_series(row: Row, limit: int) -> Series | None:
    attrs: dict[str, AttributeValue] = {}
    _put(attrs, n.USER_ID, row.get("user_id"), limit)
    if not attrs:
        return None
    spend, budget = money(row.get("spend")), money(row.get("max_budget"))
    return attrs, [
        (n.USER_SPEND, spend),
        (n.USER_MAX_BUDGET, budget),
        (n.USER_BUDGET_UTILIZATION, _ratio(spend, budget)),
        (n.USER_BUDGET_RESET_TIME, _epoch(row.get("reset_time"))),
    ]


def org_series(row: Row, limit: int) -> Series | None:
    attrs: dict[str, AttributeValue] = {}
    _put(attrs, n.ORG_ID, row.get("organization_id"), limit)
    if not attrs:
        return None
    _put(attrs, n.ORG_ALIAS, row.get("org_alias"), limit)
    spend, budget = money(row.get("spend")), money(row.get("max_budget"))
    return attrs, [
        (n.ORG_SPEND, spend),
        (n.ORG_MAX_BUDGET, budget),
        (n.ORG_BUDGET_UTILIZATION, _ratio(spend, budget)),
        (n.ORG_BUDGET_RESET_TIME, _epoch(row.get("reset_time"))),
    ]


def end_user_series(row: Row, limit: int) -> Series | None:
    attrs: dict[str, AttributeValue] = {}
    _put(attrs, n.ENDUSER_ID, row.get("user_id"), limit)
    if not attrs:
        return None
    spend, budget = money(row.get("spend")), money(row.get("max_budget"))
    return attrs, [
        (n.END_USER_SPEND, spend),
        (n.END_USER_MAX_BUDGET, budget),
        (n.END_USER_BUDGET_UTILIZATION, _ratio(spend, budget)),
        (n.END_USER_BUDGET_RESET_TIME, _epoch(row.get("reset_time"))),
        (n.END_USER_BLOCKED, _flag(row.get("blocked"))),
    ]


SERIES: Final[Mapping[str, Callable[[Row, int], Series | None]]] = {
    "key": key_series,
    "team": team_series,
    "user": user_series,
    "org": org_series,
    "end_user": end_user_series,
}
