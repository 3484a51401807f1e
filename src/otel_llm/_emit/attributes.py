"""Records → attribute sets: everything for spans, a small bounded set for metrics."""

from __future__ import annotations

from typing import Final, Protocol

from .. import _names as n
from .._record import Attribution, InvocationRecord

AttributeValue = str | bool | int | float | tuple[str, ...]


def span_name(operation: str, model: str | None) -> str:
    """``{gen_ai.operation.name} {gen_ai.request.model}``, or the operation alone."""
    return f"{operation} {model}" if model else operation


_COST_ATTRIBUTE: Final = {
    "input": n.COST_INPUT,
    "output": n.COST_OUTPUT,
    "cache_read": n.COST_CACHE_READ,
    "cache_creation": n.COST_CACHE_CREATION,
    "reasoning": n.COST_REASONING,
    "tool": n.COST_TOOL,
}
COST_COMPONENTS: Final = tuple(_COST_ATTRIBUTE)


def span_attributes(record: InvocationRecord) -> dict[str, AttributeValue]:
    """Every attribute of an attempt span; no None, NaN or empty values. (One test per attribute,
    in a fixed order, rather than a table of pairs: this runs on every attempt, and the table was
    ~45 tuples built per call.)"""
    r = record
    v: AttributeValue | None
    attrs: dict[str, AttributeValue] = {
        n.GEN_AI_OPERATION_NAME: r.operation,
        n.GEN_AI_PROVIDER_NAME: r.provider or n.UNKNOWN_VALUE,
    }
    if (v := r.request_model) is not None:
        attrs[n.GEN_AI_REQUEST_MODEL] = v
    if (v := r.output_type) is not None:
        attrs[n.GEN_AI_OUTPUT_TYPE] = v
    if (v := r.stream) is not None:
        attrs[n.GEN_AI_REQUEST_STREAM] = v
    if (v := r.max_tokens) is not None:
        attrs[n.GEN_AI_REQUEST_MAX_TOKENS] = v
    if (v := r.temperature) is not None:
        attrs[n.GEN_AI_REQUEST_TEMPERATURE] = v
    if (v := r.top_p) is not None:
        attrs[n.GEN_AI_REQUEST_TOP_P] = v
    if (v := r.top_k) is not None:
        attrs[n.GEN_AI_REQUEST_TOP_K] = v
    if (v := r.frequency_penalty) is not None:
        attrs[n.GEN_AI_REQUEST_FREQUENCY_PENALTY] = v
    if (v := r.presence_penalty) is not None:
        attrs[n.GEN_AI_REQUEST_PRESENCE_PENALTY] = v
    if (v := r.seed) is not None:
        attrs[n.GEN_AI_REQUEST_SEED] = v
    if (v := r.choice_count) is not None and v != 1:
        attrs[n.GEN_AI_REQUEST_CHOICE_COUNT] = v
    if v := r.stop_sequences:
        attrs[n.GEN_AI_REQUEST_STOP_SEQUENCES] = v
    if v := r.encoding_formats:
        attrs[n.GEN_AI_REQUEST_ENCODING_FORMATS] = v
    if (v := r.conversation_id) is not None:
        attrs[n.GEN_AI_CONVERSATION_ID] = v
    if (v := r.response_id) is not None:
        attrs[n.GEN_AI_RESPONSE_ID] = v
    if (v := r.response_model) is not None:
        attrs[n.GEN_AI_RESPONSE_MODEL] = v
    if v := r.finish_reasons:
        attrs[n.GEN_AI_RESPONSE_FINISH_REASONS] = v
    if (v := r.time_to_first_chunk_s) is not None:
        attrs[n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = v
    if (v := r.input_tokens) is not None:
        attrs[n.GEN_AI_USAGE_INPUT_TOKENS] = v
    if (v := r.output_tokens) is not None:
        attrs[n.GEN_AI_USAGE_OUTPUT_TOKENS] = v
    if (v := r.cache_read_tokens) is not None:
        attrs[n.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = v
    if (v := r.cache_creation_tokens) is not None:
        attrs[n.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = v
    if (v := r.reasoning_tokens) is not None:
        attrs[n.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = v
    if (v := r.embedding_dimensions) is not None:
        attrs[n.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = v
    if (v := r.server_address) is not None:
        attrs[n.SERVER_ADDRESS] = v
    if (v := r.server_port) is not None:
        attrs[n.SERVER_PORT] = v
    if (v := r.error_type) is not None:
        attrs[n.ERROR_TYPE] = v
    if (v := r.cost_usd) is not None:
        attrs[n.USAGE_COST] = v
    if (v := r.usage_source) is not None:
        attrs[n.USAGE_SOURCE] = v
    if (v := r.cost_source) is not None:
        attrs[n.COST_SOURCE] = v
    if v := r.cache_hit:
        attrs[n.CACHE_HIT] = v
    if (v := r.model_group) is not None:
        attrs[n.MODEL_GROUP] = v
    if (v := r.deployment_id) is not None:
        attrs[n.DEPLOYMENT_ID] = v
    if (v := r.call_id) is not None:
        attrs[n.LITELLM_CALL_ID] = v
    if (v := r.call_type) is not None:
        attrs[n.LITELLM_CALL_TYPE] = v
    if v := r.retry_index:
        attrs[n.ATTEMPT_RETRY_INDEX] = v
    if v := r.fallback_depth:
        attrs[n.ATTEMPT_FALLBACK_DEPTH] = v
    if v := r.incomplete:
        attrs[n.SPAN_INCOMPLETE] = v
    if v := r.stream_abandoned:
        attrs[n.STREAM_ABANDONED] = v
    if (v := r.cache_savings_usd) is not None:
        attrs[n.CACHE_SAVINGS] = v
    for component, usd in r.cost_components:
        attrs[_COST_ATTRIBUTE[component]] = usd
    add_who(attrs, r.attribution)
    return attrs


# The only attributes a GenAI metric point may carry (besides the token type).
METRIC_ATTRIBUTE_KEYS: Final = (
    n.GEN_AI_OPERATION_NAME,
    n.GEN_AI_PROVIDER_NAME,
    n.GEN_AI_REQUEST_MODEL,
    n.GEN_AI_RESPONSE_MODEL,
    n.MODEL_GROUP,
    n.ERROR_TYPE,
    # Attribution (OTEL_LLM_METRIC_ATTRIBUTION; key, team and agent by default):
    n.KEY_HASH,
    n.KEY_ALIAS,
    n.TEAM_ID,
    n.TEAM_ALIAS,
    n.USER_ID,
    n.ENDUSER_ID,
    n.ORG_ID,
    n.GEN_AI_AGENT_ID,
    n.GEN_AI_AGENT_NAME,
)


def metric_attributes(record: InvocationRecord, attribution: frozenset[str] = frozenset()) -> dict[str, AttributeValue]:
    """What was called and how it ended: the model attributes shared by all metric points of a record,
    plus who made the call as far as ``attribution`` names (each value is still capped)."""
    attrs: dict[str, AttributeValue] = {
        n.GEN_AI_OPERATION_NAME: record.operation,
        n.GEN_AI_PROVIDER_NAME: record.provider or n.UNKNOWN_VALUE,
    }
    if record.request_model:
        attrs[n.GEN_AI_REQUEST_MODEL] = record.request_model
    if record.response_model:
        attrs[n.GEN_AI_RESPONSE_MODEL] = record.response_model
    if record.model_group:
        attrs[n.MODEL_GROUP] = record.model_group
    if record.error_type:
        attrs[n.ERROR_TYPE] = record.error_type
    if attribution:
        attrs.update(who_attributes(record, attribution))
    return attrs


class Attributed(Protocol):
    """A record that says who made the call (every record type)."""

    attribution: Attribution


def who_attributes(record: Attributed, attribution: frozenset[str]) -> dict[str, AttributeValue]:
    """Who made the call, as far as ``attribution`` (OTEL_LLM_METRIC_ATTRIBUTION) breaks metrics down."""
    who = record.attribution
    attrs: dict[str, AttributeValue] = {}
    for field, key, value in (
        ("key", n.KEY_HASH, who.key_hash),
        ("key", n.KEY_ALIAS, who.key_alias),
        ("team", n.TEAM_ID, who.team_id),
        ("team", n.TEAM_ALIAS, who.team_alias),
        ("user", n.USER_ID, who.user_id),
        ("end_user", n.ENDUSER_ID, who.end_user),
        ("org", n.ORG_ID, who.org_id),
        ("agent", n.GEN_AI_AGENT_ID, who.agent_id),
        ("agent", n.GEN_AI_AGENT_NAME, who.agent_name),
    ):
        if field in attribution and value:
            attrs[key] = value
    return attrs


def who_span_attributes(who: Attribution) -> dict[str, AttributeValue]:
    """Everyone a call is attributed to, for its span (every value LiteLLM reported)."""
    attrs: dict[str, AttributeValue] = {}
    add_who(attrs, who)
    return attrs


def add_who(attrs: dict[str, AttributeValue], who: Attribution) -> None:
    """``who_span_attributes(who)`` written into ``attrs`` (one test per attribute: every attempt)."""
    if v := who.key_alias:
        attrs[n.KEY_ALIAS] = v
    if v := who.key_hash:
        attrs[n.KEY_HASH] = v
    if v := who.team_id:
        attrs[n.TEAM_ID] = v
    if v := who.team_alias:
        attrs[n.TEAM_ALIAS] = v
    if v := who.user_id:
        attrs[n.USER_ID] = v
    if v := who.end_user:
        attrs[n.ENDUSER_ID] = v
    if v := who.org_id:
        attrs[n.ORG_ID] = v
    if tags := who.tags:
        attrs[n.REQUEST_TAGS] = tags
    if v := who.agent_id:
        attrs[n.GEN_AI_AGENT_ID] = v
    if v := who.agent_name:
        attrs[n.GEN_AI_AGENT_NAME] = v
