"""Usage records: one content-free OpenTelemetry log record per LLM attempt, for chargeback.

Metrics answer "how much, by whom" within Prometheus's retention and spans are sampled; a
month's bill per key, team or agent needs every attempt, kept as long as the finance team
needs it. Each attempt (successes, failures, retries and fallbacks alike) becomes one log
record with event name ``otel_llm.usage``: who (key alias and salted hash, team, user, org,
end user, agent, tags), what (operation, provider, models, deployment), tokens by type, cost
and its components, where the numbers came from, how it ended, and the trace and span it
belongs to. Never content, whatever content capture says: the attributes are an allowlist.
The Collector (collector/) routes them to a durable sink (JSON lines); summed per key over a
month they equal the per-key counters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from opentelemetry import trace
from opentelemetry._logs import Logger, LoggerProvider, NoOpLoggerProvider, get_logger_provider
from opentelemetry._logs import _internal as _logs_api

from .. import _names as n
from .._record import InvocationRecord
from .attributes import span_attributes

# What a usage record carries: the span's attributes minus request parameters, response
# details and anything that could hold content.
USAGE_KEYS: Final = frozenset(
    {
        n.GEN_AI_OPERATION_NAME,
        n.GEN_AI_PROVIDER_NAME,
        n.GEN_AI_REQUEST_MODEL,
        n.GEN_AI_RESPONSE_MODEL,
        n.GEN_AI_RESPONSE_ID,
        n.GEN_AI_CONVERSATION_ID,
        n.GEN_AI_USAGE_INPUT_TOKENS,
        n.GEN_AI_USAGE_OUTPUT_TOKENS,
        n.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        n.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        n.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        n.GEN_AI_AGENT_ID,
        n.GEN_AI_AGENT_NAME,
        n.ERROR_TYPE,
        n.USAGE_COST,
        n.USAGE_SOURCE,
        n.COST_SOURCE,
        n.COST_INPUT,
        n.COST_OUTPUT,
        n.COST_CACHE_READ,
        n.COST_CACHE_CREATION,
        n.COST_REASONING,
        n.COST_TOOL,
        n.CACHE_SAVINGS,
        n.CACHE_HIT,
        n.MODEL_GROUP,
        n.DEPLOYMENT_ID,
        n.LITELLM_CALL_ID,
        n.ATTEMPT_RETRY_INDEX,
        n.ATTEMPT_FALLBACK_DEPTH,
        n.SPAN_INCOMPLETE,
        n.STREAM_ABANDONED,
        n.KEY_ALIAS,
        n.KEY_HASH,
        n.TEAM_ID,
        n.TEAM_ALIAS,
        n.USER_ID,
        n.ENDUSER_ID,
        n.ORG_ID,
        n.REQUEST_TAGS,
    }
)


def usage_attributes(record: InvocationRecord, span_attrs: Mapping[str, object] | None = None) -> dict[str, object]:
    """The attributes of one attempt's usage record (no content, ever); ``span_attrs``: the record's
    span attributes when the caller built them already."""
    source = span_attributes(record) if span_attrs is None else span_attrs
    attrs: dict[str, object] = {k: v for k, v in source.items() if k in USAGE_KEYS}
    attrs[n.USAGE_STATUS] = "error" if record.failed else "ok"
    duration = record.duration_s
    if duration is not None:
        attrs[n.USAGE_DURATION] = duration
    return attrs


def _no_provider_yet() -> bool:
    """No global logger provider is set: the API's stand-in answers (its loggers drop every record)."""
    return type(get_logger_provider()).__name__ == "ProxyLoggerProvider"


def _global_provider() -> LoggerProvider | None:
    """The global logger provider once one is set, else None (the API's own variable, read without
    ``get_logger_provider``'s environment lookup: this runs on every attempt until one is set)."""
    provider = getattr(_logs_api, "_LOGGER_PROVIDER", _UNKNOWN)
    if provider is _UNKNOWN:  # another API version: its public way
        return None if _no_provider_yet() else get_logger_provider()
    return provider if isinstance(provider, LoggerProvider) else None


_UNKNOWN: Final = object()


class UsageRecordEmitter:
    """Emits each attempt's usage record, correlated to its span."""

    def __init__(self, logger: Logger, global_provider: bool = False) -> None:
        """``global_provider``: ``logger`` is the global provider's, so records are built only
        once an application sets one (until then the API drops them, and building them is waste:
        an SDK application with no logs pipeline pays nothing for them)."""
        self._logger = logger
        self._unset = global_provider and _no_provider_yet()

    def emit(
        self, record: InvocationRecord, span: trace.Span | None, span_attrs: Mapping[str, object] | None = None
    ) -> None:
        if self._unset:
            current = _global_provider()
            if current is None or isinstance(current, NoOpLoggerProvider):
                return
            self._unset = False  # set now, and the API never unsets it
        self._logger.emit(
            timestamp=record.end_ns,
            observed_timestamp=record.end_ns,
            context=trace.set_span_in_context(span) if span is not None else None,
            attributes=usage_attributes(record, span_attrs),  # type: ignore[arg-type]  # AnyValue: scalars, lists
            event_name=n.USAGE_EVENT,
        )
