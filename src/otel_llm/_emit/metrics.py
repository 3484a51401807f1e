"""Records → GenAI metric points plus otel-llm's cost, retry, fallback and accounting counters."""

from __future__ import annotations

from typing import Final

from opentelemetry.context import Context
from opentelemetry.metrics import Meter

from .. import _names as n
from .._record import InvocationRecord
from .attributes import AttributeValue, metric_attributes, who_attributes
from .cardinality import CardinalityLimiter

# The GenAI conventions' advisory buckets.
DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
TIME_TO_FIRST_CHUNK_BUCKETS: Final = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
TIME_PER_OUTPUT_CHUNK_BUCKETS: Final = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
# USD per call: from a fraction of a cent (small embeddings) to tens of dollars (long reasoning runs).
COST_BUCKETS: Final = (
    0.00001,
    0.00005,
    0.0001,
    0.0005,
    0.001,
    0.005,
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
    5.0,
    10.0,
    50.0,
)


_CACHE_LIMIT: Final = 4096


class Instruments:
    """Every instrument otel-llm records, created once per meter."""

    def __init__(self, meter: Meter) -> None:
        self.duration = meter.create_histogram(
            n.GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.token_usage = meter.create_histogram(
            n.GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS),
        )
        self.time_to_first_chunk = meter.create_histogram(
            n.GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(TIME_TO_FIRST_CHUNK_BUCKETS),
        )
        self.time_per_output_chunk = meter.create_histogram(
            n.GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK,
            unit="s",
            description="Time between consecutive chunks of a streamed response, after the first.",
            explicit_bucket_boundaries_advisory=list(TIME_PER_OUTPUT_CHUNK_BUCKETS),
        )
        self.cost = meter.create_histogram(
            n.COST_METRIC,
            unit="USD",
            description="Cost of GenAI operations in USD, as priced by LiteLLM (sum it for spend).",
            explicit_bucket_boundaries_advisory=list(COST_BUCKETS),
        )
        self.retries = meter.create_counter(
            n.RETRIES_METRIC, unit="{retry}", description="Router retries of a model group after a failed attempt."
        )
        self.fallbacks = meter.create_counter(
            n.FALLBACKS_METRIC, unit="{fallback}", description="Router fallbacks from one model group to another."
        )
        self.accounting_issues = meter.create_counter(
            n.ACCOUNTING_ISSUES_METRIC,
            unit="{call}",
            description="Calls whose tokens or cost are not what the provider billed (estimated, missing, unpriced).",
        )
        self.loop_detections = meter.create_counter(
            n.LOOP_DETECTIONS_METRIC,
            unit="{detection}",
            description="Runaway agent loops detected (once per episode), by reason and action.",
        )
        self.loop_refusals = meter.create_counter(
            n.LOOP_REFUSALS_METRIC,
            unit="{request}",
            description="Calls refused by the loop guard (OTEL_LLM_LOOP_MODE=block) during a cool-down.",
        )
        self.proxy_refusals = meter.create_counter(
            n.PROXY_REFUSALS_METRIC,
            unit="{request}",
            description="Requests the LiteLLM proxy refused before calling any provider (authentication, "
            "unknown model, budget, rate limit, guardrail, loop guard).",
        )
        self.internal_errors = meter.create_counter(
            n.INTERNAL_ERRORS_METRIC,
            unit="{error}",
            description="Errors inside otel-llm (telemetry lost, call unaffected).",
        )


def loop_attributes(record: InvocationRecord, reason: str, action: str) -> dict[str, AttributeValue]:
    """Who looped, on which model, why: the attributes of loop detections and refusals."""
    attrs: dict[str, AttributeValue] = {n.LOOP_REASON: reason, n.LOOP_ACTION: action}
    who = record.attribution
    for key, value in (
        (n.KEY_HASH, who.key_hash),
        (n.KEY_ALIAS, who.key_alias),
        (n.TEAM_ID, who.team_id),
        (n.TEAM_ALIAS, who.team_alias),
        (n.MODEL_GROUP, record.requested_model),
    ):
        if value:
            attrs[key] = value
    return attrs


# Refused with these, the caller's key was not verified: no attribution to it (it may not exist).
_UNAUTHENTICATED: Final = frozenset({401, 403})


def refusal_attributes(record: InvocationRecord, attribution: frozenset[str]) -> dict[str, AttributeValue]:
    """What was refused, why, and (authenticated callers only) who: the attributes of a proxy refusal.
    No model: the caller names it, and nothing served it."""
    attrs: dict[str, AttributeValue] = {
        n.GEN_AI_OPERATION_NAME: record.operation,
        n.ERROR_TYPE: record.error_type or n.UNKNOWN_VALUE,
    }
    if record.error_status_code is not None:
        attrs[n.HTTP_RESPONSE_STATUS_CODE] = record.error_status_code
    if record.error_status_code not in _UNAUTHENTICATED:
        attrs.update(who_attributes(record, attribution - {"end_user"}))  # end users: unbounded, unverified
    return attrs


class MetricEmitter:
    """Records the metric points of one attempt."""

    def __init__(self, instruments: Instruments, limiter: CardinalityLimiter, attribution: frozenset[str]) -> None:
        self._i = instruments
        self._limiter = limiter
        self._attribution = attribution
        # Limited attribute sets (plain, input tokens, output tokens) by raw attribute values: the
        # same few combinations repeat on every call, so they are built once. Bounded.
        self._cache: dict[tuple[tuple[str, AttributeValue], ...], tuple[dict[str, AttributeValue], ...]] = {}

    def emit(self, record: InvocationRecord, context: Context | None = None) -> None:
        """Record the points of one attempt; ``context`` (the attempt span's) links exemplars to the trace."""
        attrs, input_attrs, output_attrs = self._attribute_sets(record)
        i = self._i
        duration = record.duration_s
        if duration is not None:
            i.duration.record(duration, attrs, context=context)
        if record.input_tokens is not None and not record.failed:
            i.token_usage.record(record.input_tokens, input_attrs)
        if record.output_tokens is not None and not record.failed and record.operation != "embeddings":
            i.token_usage.record(record.output_tokens, output_attrs)
        ttfc = record.time_to_first_chunk_s
        if ttfc is not None:
            i.time_to_first_chunk.record(ttfc, attrs, context=context)
        for gap in record.chunk_intervals_s:
            i.time_per_output_chunk.record(gap, attrs)
        if record.cost_usd is not None and not record.failed:
            i.cost.record(record.cost_usd, attrs, context=context)
        self._route(record, attrs)
        self._accounting(record, attrs)
        if record.loop is not None:
            self._i.loop_detections.add(
                1, self._limiter.limit(loop_attributes(record, record.loop.reason, record.loop.action))
            )

    def _attribute_sets(self, record: InvocationRecord) -> tuple[dict[str, AttributeValue], ...]:
        raw = metric_attributes(record, self._attribution)
        key = tuple(raw.items())
        cached = self._cache.get(key)
        if cached is None:
            attrs = self._limiter.limit(raw)
            cached = (
                attrs,
                {**attrs, n.GEN_AI_TOKEN_TYPE: n.TOKEN_TYPE_INPUT},
                {**attrs, n.GEN_AI_TOKEN_TYPE: n.TOKEN_TYPE_OUTPUT},
            )
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = cached
        return cached

    def _route(self, record: InvocationRecord, attrs: dict[str, AttributeValue]) -> None:
        step = record.route_step
        if step is None:
            return
        route_attrs: dict[str, AttributeValue] = {
            n.GEN_AI_OPERATION_NAME: attrs[n.GEN_AI_OPERATION_NAME],
        }
        if step.error_type:
            route_attrs[n.ERROR_TYPE] = step.error_type
        if step.kind == "retry":
            if step.to_model_group:
                route_attrs[n.MODEL_GROUP] = step.to_model_group
            self._i.retries.add(1, self._limiter.limit(route_attrs))
        else:
            if step.from_model_group:
                route_attrs[n.FALLBACK_FROM] = step.from_model_group
            if step.to_model_group:
                route_attrs[n.FALLBACK_TO] = step.to_model_group
            self._i.fallbacks.add(1, self._limiter.limit(route_attrs))

    def _accounting(self, record: InvocationRecord, attrs: dict[str, AttributeValue]) -> None:
        issues = []
        if record.usage_source in ("estimated", "missing"):
            issues.append(f"usage_{record.usage_source}")
        if record.cost_source == "unpriced":
            issues.append("cost_unpriced")
        for issue in issues:
            self._i.accounting_issues.add(1, {**attrs, n.ACCOUNTING_ISSUE: issue})
