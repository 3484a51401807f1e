"""Records → metric points: the GenAI histograms (by model and group), per-key counters, economics.

Two attribute sets per attempt keep the series count proportional to what each answers:

* **Histograms** (duration, tokens, time to first chunk, time per chunk, cost) carry the
  model attributes, the Router deployment (``otel_llm.deployment.id``: a few per model group,
  from the proxy's config) and the *group* attribution only (team, org, agent): latency per key
  is not a question anyone asks, and 17 series per histogram series per key would be.
* **Counters** (``otel_llm.client.requests``, ``.spend``, ``.tokens``) carry everyone the
  call is attributed to (key, team, user, end user, org, agent: OTEL_LLM_METRIC_ATTRIBUTION):
  exact per-key spend and tokens at one series per key, model and type.

Each value passes the cardinality limiter (which forgets idle values and counts what it folds).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Final

from opentelemetry.context import Context

from .. import _names as n
from .._record import Attribution, InvocationRecord
from .attributes import Attributed, metric_attributes, who_attributes
from .cardinality import CardinalityLimiter
from .instruments import AttributeValue, AttrSet, Instruments

# Who a histogram may be broken down by: groups with few members, never a key or a person.
GROUP_ATTRIBUTION: Final = frozenset({"team", "org", "agent"})

# Attribute sets of this many kinds of attempt are kept built (a key on a model is one kind).
_CACHE_LIMIT: Final = 4096


def loop_attributes(
    who: Attribution, reason: str, action: str, subject: tuple[str, str | None]
) -> dict[str, AttributeValue]:
    """Who looped, on what (``subject``: the model group, or the tool), why: the attributes of loop
    detections and refusals."""
    attrs: dict[str, AttributeValue] = {n.LOOP_REASON: reason, n.LOOP_ACTION: action}
    for key, value in (
        (n.KEY_HASH, who.key_hash),
        (n.KEY_ALIAS, who.key_alias),
        (n.TEAM_ID, who.team_id),
        (n.TEAM_ALIAS, who.team_alias),
        (n.GEN_AI_AGENT_ID, who.agent_id),
        (n.GEN_AI_AGENT_NAME, who.agent_name),
        subject,
    ):
        if value:
            attrs[key] = value
    return attrs


# Refused with these, the caller's key was not verified: no attribution to it (it may not exist).
_UNAUTHENTICATED: Final = frozenset({401, 403})


def refusal_attributes(record: InvocationRecord, attribution: frozenset[str]) -> dict[str, AttributeValue]:
    """What was refused, why, and (authenticated callers only) who: the attributes of a proxy refusal.
    No model: the caller names it, and nothing served it."""
    return refused(record.operation, record.error_type, record.error_status_code, record, attribution)


def refused(
    operation: str,
    error_type: str | None,
    status_code: int | None,
    who: Attributed,
    attribution: frozenset[str],
    verified: bool = False,
) -> dict[str, AttributeValue]:
    """The attributes of any refusal (an LLM request, a tool call, an agent call): the operation, the
    error and status, and who (only when the proxy verified the caller's key: ``verified``, or a status
    other than 401/403)."""
    attrs: dict[str, AttributeValue] = {
        n.GEN_AI_OPERATION_NAME: operation,
        n.ERROR_TYPE: error_type or n.UNKNOWN_VALUE,
    }
    if status_code is not None:
        attrs[n.HTTP_RESPONSE_STATUS_CODE] = status_code
    if verified or status_code not in _UNAUTHENTICATED:
        attrs.update(who_attributes(who, attribution - {"end_user"}))  # end users: unbounded, unverified
    return attrs


class _Sets:
    """The limited attribute sets of one kind of attempt, built once and reused."""

    __slots__ = (
        "checked",
        "economics",
        "economics_sets",
        "folded",
        "hist",
        "hist_input",
        "hist_output",
        "requests",
        "tokens",
        "who",
    )

    def __init__(
        self, hist: dict[str, AttributeValue], who: dict[str, AttributeValue], folded: tuple[str, ...], now: float
    ):
        self.folded = folded
        self.checked = now
        self.hist = AttrSet(hist)
        self.hist_input = AttrSet({**hist, n.GEN_AI_TOKEN_TYPE: n.TOKEN_TYPE_INPUT})
        self.hist_output = AttrSet({**hist, n.GEN_AI_TOKEN_TYPE: n.TOKEN_TYPE_OUTPUT})
        base = {k: v for k, v in who.items() if k != n.ERROR_TYPE}
        self.who = AttrSet(base)
        self.requests = AttrSet(who)
        self.tokens: dict[str, AttrSet] = {}  # built as each token type first occurs
        group = {k: v for k, v in hist.items() if k not in (n.ERROR_TYPE, n.GEN_AI_RESPONSE_MODEL)}
        self.economics = group
        # The cost components' sets (None: the cache savings'), built as each first occurs.
        self.economics_sets: dict[str | None, AttrSet] = {}

    def economics_set(self, component: str | None) -> AttrSet:
        """The set of one cost component's spend (None: of the cache savings)."""
        attrs = self.economics_sets.get(component)
        if attrs is None:
            group = self.economics
            mapping = dict(group) if component is None else {**group, n.COST_COMPONENT: component}
            attrs = self.economics_sets[component] = AttrSet(mapping)
        return attrs


class MetricEmitter:
    """Records the metric points of one attempt."""

    def __init__(
        self,
        instruments: Instruments,
        limiter: CardinalityLimiter,
        attribution: frozenset[str],
        idle_s: float,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self._i = instruments
        self._limiter = limiter
        self._attribution = attribution
        self._groups = attribution & GROUP_ATTRIBUTION
        # A cached set is checked against the limiter again after a quarter of the idle timeout,
        # so a value in use keeps its slot (the limiter frees slots of values idle past it).
        self._recheck_s = idle_s / 4
        self._mono = mono
        self._swept = mono()
        self._cache: dict[tuple[object, ...], _Sets] = {}

    def emit(self, record: InvocationRecord, context: Context | None = None) -> None:
        """Record the points of one attempt; ``context`` (the attempt span's) links exemplars to the trace."""
        sets = self._sets(record)
        i = self._i
        for attribute in sets.folded:
            i.overflow(n.REQUESTS_METRIC, attribute)
        hist = sets.hist
        duration = record.duration_s
        if duration is not None:
            i.duration(duration, hist, context)
        failed = record.failed
        if record.input_tokens is not None and not failed:
            i.token_usage(record.input_tokens, sets.hist_input)
        if record.output_tokens is not None and not failed and record.operation != "embeddings":
            i.token_usage(record.output_tokens, sets.hist_output)
        ttfc = record.time_to_first_chunk_s
        if ttfc is not None:
            i.time_to_first_chunk(ttfc, hist, context)
        if record.chunk_intervals_s:
            i.time_per_output_chunks(record.chunk_intervals_s, hist)
        if record.cost_usd is not None and not failed:
            i.cost(record.cost_usd, hist, context)
        i.requests(1, sets.requests)
        if record.cost_usd:
            i.spend(record.cost_usd, sets.who)
        self._tokens(record, sets)
        self._economics_points(record, sets)
        self._route(record)
        self._accounting(record, hist.mapping)
        if record.loop is not None:
            subject = (n.MODEL_GROUP, record.requested_model)
            attrs = self._limiter.limit(
                loop_attributes(record.attribution, record.loop.reason, record.loop.action, subject)
            )
            i.loop_detections(1, AttrSet(attrs))

    def _tokens(self, record: InvocationRecord, sets: _Sets) -> None:
        if record.failed:
            return
        if value := record.input_tokens:
            self._token_point("input", value, sets)
        if record.operation != "embeddings" and (value := record.output_tokens):
            self._token_point("output", value, sets)
        if value := record.cache_read_tokens:
            self._token_point("cache_read", value, sets)
        if value := record.cache_creation_tokens:
            self._token_point("cache_creation", value, sets)
        if value := record.reasoning_tokens:
            self._token_point("reasoning", value, sets)

    def _token_point(self, kind: str, value: int, sets: _Sets) -> None:
        attrs = sets.tokens.get(kind)
        if attrs is None:  # built as each token type first occurs
            attrs = sets.tokens[kind] = AttrSet({**sets.who.mapping, n.TOKEN_TYPE: kind})
        self._i.tokens(value, attrs)

    def _evict(self, now: float, older_than_s: float) -> None:
        """Drop the sets not checked for ``older_than_s``: a set in use is checked every quarter of the
        idle timeout, so these belong to keys gone idle (memory follows the active keys)."""
        for key in [k for k, s in list(self._cache.items()) if now - s.checked >= older_than_s]:
            self._cache.pop(key, None)

    def _economics_points(self, record: InvocationRecord, sets: _Sets) -> None:
        if not record.cost_components and not record.cache_savings_usd:
            return
        for component, usd in record.cost_components:
            if usd:
                self._i.component_spend(usd, sets.economics_set(component))
        if record.cache_savings_usd:
            self._i.cache_savings(record.cache_savings_usd, sets.economics_set(None))

    def _sets(self, record: InvocationRecord) -> _Sets:
        who = record.attribution
        key = (
            record.operation,
            record.provider,
            record.request_model,
            record.response_model,
            record.model_group,
            record.deployment_id,
            record.error_type,
            who.key_hash,
            who.key_alias,
            who.team_id,
            who.team_alias,
            who.user_id,
            who.end_user,
            who.org_id,
            who.agent_id,
            who.agent_name,
        )
        cached = self._cache.get(key)
        now = self._mono()
        if cached is not None and now - cached.checked < self._recheck_s:
            return cached
        if now - self._swept >= self._recheck_s:
            self._swept = now
            self._evict(now, 2 * self._recheck_s)
        base = metric_attributes(record)
        hist_raw = {**base, **who_attributes(record, self._groups)}
        if record.deployment_id:  # which of a group's deployments: latency and failures per deployment
            hist_raw[n.DEPLOYMENT_ID] = record.deployment_id
        who_raw = {k: v for k, v in base.items() if k != n.GEN_AI_RESPONSE_MODEL}
        who_raw.update(who_attributes(record, self._attribution))
        hist, hist_folded = self._limiter.apply(hist_raw)
        who_limited, who_folded = self._limiter.apply(who_raw)
        sets = _Sets(hist, who_limited, tuple(dict.fromkeys((*hist_folded, *who_folded))), now)
        if len(self._cache) >= _CACHE_LIMIT:
            self._evict(now, self._recheck_s)
            if len(self._cache) >= _CACHE_LIMIT // 2:
                self._cache.clear()
        self._cache[key] = sets
        return sets

    def _route(self, record: InvocationRecord) -> None:
        step = record.route_step
        if step is None:
            return
        route_attrs: dict[str, AttributeValue] = {n.GEN_AI_OPERATION_NAME: record.operation}
        if step.error_type:
            route_attrs[n.ERROR_TYPE] = step.error_type
        if step.kind == "retry":
            if step.to_model_group:
                route_attrs[n.MODEL_GROUP] = step.to_model_group
            self._i.retries(1, AttrSet(self._limiter.limit(route_attrs, n.RETRIES_METRIC)))
        else:
            if step.from_model_group:
                route_attrs[n.FALLBACK_FROM] = step.from_model_group
            if step.to_model_group:
                route_attrs[n.FALLBACK_TO] = step.to_model_group
            self._i.fallbacks(1, AttrSet(self._limiter.limit(route_attrs, n.FALLBACKS_METRIC)))

    def _accounting(self, record: InvocationRecord, attrs: Mapping[str, AttributeValue]) -> None:
        issues = []
        if record.usage_source in ("estimated", "missing"):
            issues.append(f"usage_{record.usage_source}")
        if record.cost_source == "unpriced":
            issues.append("cost_unpriced")
        for issue in issues:
            self._i.accounting_issues(1, AttrSet({**attrs, n.ACCOUNTING_ISSUE: issue}))
