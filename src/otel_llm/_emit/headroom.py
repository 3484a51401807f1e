"""Budget and rate-limit headroom gauges: the freshest value seen for each key, team and deployment.

Gauges are observable and report a series only while it is fresh (updated within the
headroom TTL), so an idle worker never re-reports a stale spend and a dead worker's
values simply stop. Series carry no process identity: the Collector configuration in
``collector/`` collapses them across workers (last write wins).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Final

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from .. import _names as n
from .._record import InvocationRecord
from .attributes import AttributeValue
from .cardinality import CardinalityLimiter

_MAX_SERIES: Final = 10000

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
    (n.KEY_SPEND_VELOCITY, "USD/min", "USD the virtual key spent in the last minute (loop detection's window)."),
    (
        n.PROVIDER_REMAINING_REQUESTS,
        "{request}",
        "Requests left in the provider's rate-limit window (x-ratelimit headers).",
    ),
    (n.PROVIDER_REMAINING_TOKENS, "{token}", "Tokens left in the provider's rate-limit window (x-ratelimit headers)."),
    (n.PROVIDER_LIMIT_REQUESTS, "{request}", "The provider's request limit per window (x-ratelimit headers)."),
    (n.PROVIDER_LIMIT_TOKENS, "{token}", "The provider's token limit per window (x-ratelimit headers)."),
)

AttrKey = tuple[tuple[str, AttributeValue], ...]


class HeadroomStore:
    """Latest value per (gauge, attribute set), bounded and aged out after ``ttl_s``."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._values: OrderedDict[tuple[str, AttrKey], tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def set(self, name: str, attributes: dict[str, AttributeValue], value: float) -> None:
        key = (name, tuple(sorted(attributes.items())))
        with self._lock:
            self._values[key] = (value, self._clock())
            self._values.move_to_end(key)
            while len(self._values) > _MAX_SERIES:
                self._values.popitem(last=False)

    def fresh(self, name: str) -> list[tuple[dict[str, AttributeValue], float]]:
        now = self._clock()
        result = []
        with self._lock:
            for stale in [k for k, (_, seen) in self._values.items() if now - seen > self._ttl_s]:
                del self._values[stale]
            for (metric, attrs), (value, _) in self._values.items():
                if metric == name:
                    result.append((dict(attrs), value))
        return result


def _ratio(used: float | None, limit: float | None) -> float | None:
    if used is None or not limit:
        return None
    return max(0.0, used / limit)


class HeadroomEmitter:
    """Records a call's headroom into the store; observable gauges read it."""

    def __init__(self, meter: Meter, limiter: CardinalityLimiter, ttl_s: float) -> None:
        self.store = HeadroomStore(ttl_s)
        self._limiter = limiter
        for name, unit, description in GAUGES:
            meter.create_observable_gauge(name, callbacks=[self._observer(name)], unit=unit, description=description)

    def _observer(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(value, attrs) for attrs, value in self.store.fresh(name)]

        return observe

    def emit(self, record: InvocationRecord) -> None:
        h = record.headroom
        who = record.attribution
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
        if key_attrs:
            attrs = self._limiter.limit({**key_attrs, **team_attrs})
            self._set(n.KEY_SPEND, attrs, h.key_spend)
            self._set(n.KEY_MAX_BUDGET, attrs, h.key_max_budget)
            self._set(n.KEY_BUDGET_UTILIZATION, attrs, _ratio(h.key_spend, h.key_max_budget))
            self._set(n.KEY_RPM_LIMIT, attrs, h.key_rpm_limit)
            self._set(n.KEY_TPM_LIMIT, attrs, h.key_tpm_limit)
            if h.key_rpm_limit is not None and h.key_rpm_remaining is not None:
                self._set(n.KEY_RPM_UTILIZATION, attrs, _ratio(h.key_rpm_limit - h.key_rpm_remaining, h.key_rpm_limit))
            self._set(n.KEY_SPEND_VELOCITY, attrs, record.spend_per_minute)
            if h.key_tpm_limit is not None and h.key_tpm_remaining is not None:
                self._set(n.KEY_TPM_UTILIZATION, attrs, _ratio(h.key_tpm_limit - h.key_tpm_remaining, h.key_tpm_limit))
        if team_attrs:
            attrs = self._limiter.limit(team_attrs)
            self._set(n.TEAM_SPEND, attrs, h.team_spend)
            self._set(n.TEAM_MAX_BUDGET, attrs, h.team_max_budget)
            self._set(n.TEAM_BUDGET_UTILIZATION, attrs, _ratio(h.team_spend, h.team_max_budget))
        if h.provider_remaining_requests is not None or h.provider_remaining_tokens is not None:
            deployment: dict[str, AttributeValue] = {n.GEN_AI_PROVIDER_NAME: record.provider or n.UNKNOWN_VALUE}
            if record.model_group:
                deployment[n.MODEL_GROUP] = record.model_group
            if record.deployment_id:
                deployment[n.DEPLOYMENT_ID] = record.deployment_id
            if record.server_address:
                deployment[n.SERVER_ADDRESS] = record.server_address
            attrs = self._limiter.limit(deployment)
            self._set(n.PROVIDER_REMAINING_REQUESTS, attrs, h.provider_remaining_requests)
            self._set(n.PROVIDER_REMAINING_TOKENS, attrs, h.provider_remaining_tokens)
            self._set(n.PROVIDER_LIMIT_REQUESTS, attrs, h.provider_limit_requests)
            self._set(n.PROVIDER_LIMIT_TOKENS, attrs, h.provider_limit_tokens)

    def _set(self, name: str, attrs: dict[str, AttributeValue], value: float | None) -> None:
        if value is not None:
            self.store.set(name, attrs, float(value))
