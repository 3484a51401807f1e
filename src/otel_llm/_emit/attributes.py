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
    """Every attribute of an attempt span; no None, NaN or empty values."""
    attrs: dict[str, AttributeValue] = {n.GEN_AI_OPERATION_NAME: record.operation}
    optional: tuple[tuple[str, AttributeValue | None], ...] = (
        (n.GEN_AI_PROVIDER_NAME, record.provider or n.UNKNOWN_VALUE),
        (n.GEN_AI_REQUEST_MODEL, record.request_model),
        (n.GEN_AI_OUTPUT_TYPE, record.output_type),
        (n.GEN_AI_REQUEST_STREAM, record.stream),
        (n.GEN_AI_REQUEST_MAX_TOKENS, record.max_tokens),
        (n.GEN_AI_REQUEST_TEMPERATURE, record.temperature),
        (n.GEN_AI_REQUEST_TOP_P, record.top_p),
        (n.GEN_AI_REQUEST_TOP_K, record.top_k),
        (n.GEN_AI_REQUEST_FREQUENCY_PENALTY, record.frequency_penalty),
        (n.GEN_AI_REQUEST_PRESENCE_PENALTY, record.presence_penalty),
        (n.GEN_AI_REQUEST_SEED, record.seed),
        (n.GEN_AI_REQUEST_CHOICE_COUNT, record.choice_count if record.choice_count != 1 else None),
        (n.GEN_AI_REQUEST_STOP_SEQUENCES, record.stop_sequences or None),
        (n.GEN_AI_REQUEST_ENCODING_FORMATS, record.encoding_formats or None),
        (n.GEN_AI_CONVERSATION_ID, record.conversation_id),
        (n.GEN_AI_RESPONSE_ID, record.response_id),
        (n.GEN_AI_RESPONSE_MODEL, record.response_model),
        (n.GEN_AI_RESPONSE_FINISH_REASONS, record.finish_reasons or None),
        (n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, record.time_to_first_chunk_s),
        (n.GEN_AI_USAGE_INPUT_TOKENS, record.input_tokens),
        (n.GEN_AI_USAGE_OUTPUT_TOKENS, record.output_tokens),
        (n.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, record.cache_read_tokens),
        (n.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, record.cache_creation_tokens),
        (n.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, record.reasoning_tokens),
        (n.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, record.embedding_dimensions),
        (n.SERVER_ADDRESS, record.server_address),
        (n.SERVER_PORT, record.server_port),
        (n.ERROR_TYPE, record.error_type),
        (n.USAGE_COST, record.cost_usd),
        (n.USAGE_SOURCE, record.usage_source),
        (n.COST_SOURCE, record.cost_source),
        (n.CACHE_HIT, record.cache_hit or None),
        (n.MODEL_GROUP, record.model_group),
        (n.DEPLOYMENT_ID, record.deployment_id),
        (n.LITELLM_CALL_ID, record.call_id),
        (n.LITELLM_CALL_TYPE, record.call_type),
        (n.ATTEMPT_RETRY_INDEX, record.retry_index or None),
        (n.ATTEMPT_FALLBACK_DEPTH, record.fallback_depth or None),
        (n.SPAN_INCOMPLETE, record.incomplete or None),
        (n.STREAM_ABANDONED, record.stream_abandoned or None),
        (n.CACHE_SAVINGS, record.cache_savings_usd),
        *((_COST_ATTRIBUTE[component], usd) for component, usd in record.cost_components),
    )
    for key, value in optional:
        if value is not None:
            attrs[key] = value
    attrs.update(who_span_attributes(record.attribution))
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
    for key, value in (
        (n.KEY_ALIAS, who.key_alias),
        (n.KEY_HASH, who.key_hash),
        (n.TEAM_ID, who.team_id),
        (n.TEAM_ALIAS, who.team_alias),
        (n.USER_ID, who.user_id),
        (n.ENDUSER_ID, who.end_user),
        (n.ORG_ID, who.org_id),
        (n.REQUEST_TAGS, who.tags or None),
        (n.GEN_AI_AGENT_ID, who.agent_id),
        (n.GEN_AI_AGENT_NAME, who.agent_name),
    ):
        if value:
            attrs[key] = value
    return attrs
