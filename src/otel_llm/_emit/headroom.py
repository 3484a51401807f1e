"""Budget and rate-limit headroom gauges: the freshest value seen for each key, team and deployment.

Gauges report a series only while it is fresh (updated within the headroom TTL), so an idle
worker never re-reports a stale spend and a dead worker's values simply stop. Series carry
no process identity: the Collector configuration in ``collector/`` collapses them across
workers (last write wins).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from .. import _names as n
from .._record import InvocationRecord
from .instruments import AttributeValue
from .series import AttrKey, Spec
from .store import Instrument, MetricStore, sorted_key

_OWNERS_LIMIT: Final = 4096

# (metric name, unit, description)
GAUGES: Final = (
    (n.KEY_SPEND, "USD", "Spend of the virtual key, as LiteLLM last reported it."),
    (n.KEY_MAX_BUDGET, "USD", "Maximum budget of the virtual key."),
    (n.KEY_BUDGET_UTILIZATION, "1", "Spend / max budget of the virtual key (0-1, above 1 when over budget)."),
    (n.TEAM_SPEND, "USD", "Spend of the team, as LiteLLM last reported it."),
    (n.TEAM_MAX_BUDGET, "USD", "Maximum budget of the team."),
    (n.TEAM_BUDGET_UTILIZATION, "1", "Spend / max budget of the team."),
    (n.KEY_RPM_LIMIT, "{request}/min", "Requests-per-minute limit of the virtual key."),
    (n.KEY_RPM_UTILIZATION, "1", "Share of the key's requests-per-minute limit in use (0-1)."),
    (n.KEY_TPM_LIMIT, "{token}/min", "Tokens-per-minute limit of the virtual key."),
    (n.KEY_TPM_UTILIZATION, "1", "Share of the key's tokens-per-minute limit in use (0-1)."),
    (n.TEAM_RPM_LIMIT, "{request}/min", "Requests-per-minute limit of the team (all its keys together)."),
    (n.TEAM_RPM_UTILIZATION, "1", "Share of the team's requests-per-minute limit in use (0-1)."),
    (n.TEAM_TPM_LIMIT, "{token}/min", "Tokens-per-minute limit of the team."),
    (n.TEAM_TPM_UTILIZATION, "1", "Share of the team's tokens-per-minute limit in use (0-1)."),
    (n.KEY_SPEND_VELOCITY, "USD/min", "USD the virtual key spent in the last minute (loop detection's window)."),
    (
        n.PROVIDER_REMAINING_REQUESTS,
        "{request}",
        "Requests left in the provider's rate-limit window (x-ratelimit headers).",
    ),
    (n.PROVIDER_REMAINING_TOKENS, "{token}", "Tokens left in the provider's rate-limit window (x-ratelimit headers)."),
    (n.PROVIDER_LIMIT_REQUESTS, "{request}", "The provider's request limit per window (x-ratelimit headers)."),
    (n.PROVIDER_LIMIT_TOKENS, "{token}", "The provider's token limit per window (x-ratelimit headers)."),
    # Budget state from LiteLLM's database (the budget poller, _budgets/): every key, team, user,
    # organisation and budgeted end user, whether it sends traffic or not.
    (n.KEY_BUDGET_RESET_TIME, "s", "When LiteLLM next resets the virtual key's budget (unix seconds)."),
    (n.KEY_BLOCKED, "{flag}", "1 while the virtual key is blocked in LiteLLM, else 0."),
    (n.TEAM_BUDGET_RESET_TIME, "s", "When LiteLLM next resets the team's budget (unix seconds)."),
    (n.TEAM_BLOCKED, "{flag}", "1 while the team is blocked in LiteLLM, else 0."),
    (n.USER_SPEND, "USD", "Spend of the LiteLLM internal user."),
    (n.USER_MAX_BUDGET, "USD", "Maximum budget of the LiteLLM internal user."),
    (n.USER_BUDGET_UTILIZATION, "1", "Spend / max budget of the LiteLLM internal user."),
    (n.USER_BUDGET_RESET_TIME, "s", "When LiteLLM next resets the user's budget (unix seconds)."),
    (n.ORG_SPEND, "USD", "Spend of the organisation."),
    (n.ORG_MAX_BUDGET, "USD", "Maximum budget of the organisation."),
    (n.ORG_BUDGET_UTILIZATION, "1", "Spend / max budget of the organisation."),
    (n.ORG_BUDGET_RESET_TIME, "s", "When LiteLLM next resets the organisation's budget (unix seconds)."),
    (n.END_USER_SPEND, "USD", "Spend of the end user (LiteLLM customer)."),
    (n.END_USER_MAX_BUDGET, "USD", "Maximum budget of the end user (LiteLLM customer)."),
    (n.END_USER_BUDGET_UTILIZATION, "1", "Spend / max budget of the end user (LiteLLM customer)."),
    (n.END_USER_BUDGET_RESET_TIME, "s", "When LiteLLM next resets the end user's budget (unix seconds)."),
    (n.END_USER_BLOCKED, "{flag}", "1 while the end user (LiteLLM customer) is blocked in LiteLLM, else 0."),
)

# Values of a one-minute window: a minute after the last call they no longer describe anything
# (an idle key's rpm use is not still 90%), so they stop being reported after at most a minute.
WINDOW_S: Final = 60.0
WINDOWED: Final = frozenset(
    {
        n.KEY_RPM_UTILIZATION,
        n.KEY_TPM_UTILIZATION,
        n.TEAM_RPM_UTILIZATION,
        n.TEAM_TPM_UTILIZATION,
        n.KEY_SPEND_VELOCITY,
        n.PROVIDER_REMAINING_REQUESTS,
        n.PROVIDER_REMAINING_TOKENS,
    }
)


def gauge_specs(ttl_s: float) -> tuple[Spec, ...]:
    """The headroom gauges as store instruments: shared (a key's, not a worker's), fresh for ``ttl_s``
    (one-minute window values for at most WINDOW_S)."""
    return tuple(
        Spec(name, "gauge", unit, description, shared=True, ttl_s=min(ttl_s, WINDOW_S) if name in WINDOWED else ttl_s)
        for name, unit, description in GAUGES
    )


def _ratio(used: float | None, limit: float | None) -> float | None:
    if used is None or not limit:
        return None
    return max(0.0, used / limit)


def _used_ratio(limit: int | None, remaining: int | None) -> float | None:
    """Share of a rate limit in use, from LiteLLM's limit and remaining headers."""
    return None if limit is None or remaining is None else _ratio(limit - remaining, limit)


class HeadroomEmitter:
    """Records a call's headroom as gauges of the metric store.

    Never capped by attribute value: a key's budget gauge is that key's, or nothing (folding it
    into _OTHER would show a stranger's budget). The store bounds the series per gauge and
    counts what it refuses in ``otel_llm.metric.overflow``.
    """

    def __init__(self, store: MetricStore, ttl_s: float) -> None:
        self._gauges = {spec.name: store.instrument(spec) for spec in gauge_specs(ttl_s)}
        # (key hash, key alias, team id, team alias) -> the key's and the team's series keys: a key
        # calls again and again, so its attribute sets are built and sorted once (bounded).
        self._owners: dict[tuple[str | None, ...], tuple[AttrKey | None, AttrKey | None]] = {}

    @property
    def instruments(self) -> list[Instrument]:
        return list(self._gauges.values())

    def set_many(self, attributes: dict[str, AttributeValue], values: Iterable[tuple[str, float | None]]) -> None:
        """Several gauges of one attribute set (None values skipped)."""
        self._set_all(sorted_key(attributes.items()), values)

    def _set_all(self, key: AttrKey, values: Iterable[tuple[str, float | None]]) -> None:
        for name, value in values:
            if value is not None:
                self._gauges[name].set(value, key)

    def _owner_keys(self, record: InvocationRecord) -> tuple[AttrKey | None, AttrKey | None]:
        """The series keys of the call's key (with its team) and of its team (None: not known)."""
        who = record.attribution
        owner = (who.key_hash, who.key_alias, who.team_id, who.team_alias)
        keys = self._owners.get(owner)
        if keys is not None:
            return keys
        key_attrs: dict[str, AttributeValue] = {}
        if who.key_hash:
            key_attrs[n.KEY_HASH] = who.key_hash
        if who.key_alias:
            key_attrs[n.KEY_ALIAS] = who.key_alias
        team_attrs: dict[str, AttributeValue] = {}
        if who.team_id:
            team_attrs[n.TEAM_ID] = who.team_id
        if who.team_alias:
            team_attrs[n.TEAM_ALIAS] = who.team_alias
        keys = (
            sorted_key({**key_attrs, **team_attrs}.items()) if key_attrs else None,
            sorted_key(team_attrs.items()) if team_attrs else None,
        )
        if len(self._owners) >= _OWNERS_LIMIT:
            self._owners.clear()
        self._owners[owner] = keys
        return keys

    def forget(self, name: str, key: AttrKey) -> None:
        """Drop one series of one gauge now (its subject is gone: a deleted key)."""
        self._gauges[name].forget(key)

    def fresh(self, name: str) -> list[tuple[dict[str, object], float]]:
        """(attributes, value) of each fresh series of one gauge."""
        return self._gauges[name].series()

    def emit(self, record: InvocationRecord) -> None:
        h = record.headroom
        key_key, team_key = self._owner_keys(record)
        if key_key is not None:
            self._set_all(
                key_key,
                (
                    (n.KEY_SPEND, h.key_spend),
                    (n.KEY_MAX_BUDGET, h.key_max_budget),
                    (n.KEY_BUDGET_UTILIZATION, _ratio(h.key_spend, h.key_max_budget)),
                    (n.KEY_RPM_LIMIT, h.key_rpm_limit),
                    (n.KEY_TPM_LIMIT, h.key_tpm_limit),
                    (n.KEY_RPM_UTILIZATION, _used_ratio(h.key_rpm_limit, h.key_rpm_remaining)),
                    (n.KEY_SPEND_VELOCITY, record.spend_per_minute),
                    (n.KEY_TPM_UTILIZATION, _used_ratio(h.key_tpm_limit, h.key_tpm_remaining)),
                ),
            )
        if team_key is not None:
            self._set_all(
                team_key,
                (
                    (n.TEAM_SPEND, h.team_spend),
                    (n.TEAM_MAX_BUDGET, h.team_max_budget),
                    (n.TEAM_BUDGET_UTILIZATION, _ratio(h.team_spend, h.team_max_budget)),
                    (n.TEAM_RPM_LIMIT, h.team_rpm_limit),
                    (n.TEAM_RPM_UTILIZATION, _used_ratio(h.team_rpm_limit, h.team_rpm_remaining)),
                    (n.TEAM_TPM_LIMIT, h.team_tpm_limit),
                    (n.TEAM_TPM_UTILIZATION, _used_ratio(h.team_tpm_limit, h.team_tpm_remaining)),
                ),
            )
        if h.provider_remaining_requests is not None or h.provider_remaining_tokens is not None:
            deployment: dict[str, AttributeValue] = {n.GEN_AI_PROVIDER_NAME: record.provider or n.UNKNOWN_VALUE}
            if record.model_group:
                deployment[n.MODEL_GROUP] = record.model_group
            if record.deployment_id:
                deployment[n.DEPLOYMENT_ID] = record.deployment_id
            if record.server_address:
                deployment[n.SERVER_ADDRESS] = record.server_address
            self.set_many(
                deployment,
                (
                    (n.PROVIDER_REMAINING_REQUESTS, h.provider_remaining_requests),
                    (n.PROVIDER_REMAINING_TOKENS, h.provider_remaining_tokens),
                    (n.PROVIDER_LIMIT_REQUESTS, h.provider_limit_requests),
                    (n.PROVIDER_LIMIT_TOKENS, h.provider_limit_tokens),
                ),
            )
