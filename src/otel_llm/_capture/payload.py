"""LiteLLM's ``standard_logging_object`` → one InvocationRecord (a pure function).

Every field is read defensively (see ``fields``): a malformed payload loses only the
fields that are malformed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from .. import _providers
from .._config import Config
from .._loop.fingerprint import fingerprints
from .._record import InvocationRecord, RouteStep
from .._redact import known_secrets, scrub, server_of
from .._shapes import is_mapping, is_sequence, mapping
from . import content as _content
from .attribution import read_agent, read_attribution, read_headroom
from .fields import attr, count, epoch_ns, flag, money, number, strings, text, whole
from .parent import carrier_from, metadata_of


def build_record(payload: object, kwargs: object, config: Config) -> InvocationRecord:
    """Build the record of one attempt from the callback's payload and kwargs."""
    slo = mapping(payload)
    kw = mapping(kwargs)
    limit = config.attribute_max_length
    call_type = text(slo.get("call_type"), limit) or text(kw.get("call_type"), limit)
    raw_provider = text(slo.get("custom_llm_provider"), limit) or text(
        mapping(kw.get("litellm_params")).get("custom_llm_provider"), limit
    )
    model = text(slo.get("model"), limit) or text(kw.get("model"), limit)
    if call_type == _providers.PASS_THROUGH_CALL_TYPE:
        url = mapping(kw.get("passthrough_logging_payload")).get("url")
        operation, output_type = _providers.pass_through_operation(url if isinstance(url, str) else None)
        # LiteLLM < 1.108 names no provider for a streamed pass-through; its price map knows the model's.
        raw_provider = raw_provider or _providers.provider_of_model(model)
    else:
        operation, output_type = _providers.operation_of(call_type)
    metadata = mapping(slo.get("metadata"))
    record = InvocationRecord(
        call_id=text(slo.get("litellm_call_id"), limit) or text(kw.get("litellm_call_id"), limit),
        operation=operation,
        call_type=call_type,
        provider=_providers.provider_name(raw_provider),
        output_type=output_type,
        attribution=read_attribution(metadata, slo, limit),  # (not a default one, replaced)
    )
    if model:
        record.request_model = _providers.strip_provider_prefix(model, raw_provider)
    record.model_group = text(slo.get("model_group"), limit)
    record.deployment_id = text(slo.get("model_id"), limit)
    hidden = mapping(slo.get("hidden_params"))
    record.server_address, record.server_port = server_of(slo.get("api_base") or hidden.get("api_base"), limit)
    record.stream = flag(slo.get("stream"))
    if record.stream is None and call_type and "completion" in call_type:
        record.stream = False
    record.cache_hit = flag(slo.get("cache_hit"))
    params = mapping(slo.get("model_parameters"))
    _read_parameters(record, params, limit)
    if record.output_type == _providers.TEXT_OUTPUT and _asks_for_json(params.get("response_format")):
        record.output_type = _providers.JSON_OUTPUT
    _read_times(record, slo)
    _read_response(record, slo, limit)
    _read_usage(record, slo, kw, raw_provider)
    _read_error(record, slo, limit, kw)
    if record.failed:
        _drop_unreported_usage(record)
    request_metadata = _request_metadata(kw)
    _read_route(record, request_metadata, limit)
    if record.response_model and record.response_model == record.model_group != record.request_model:
        # The proxy relabels responses with the model group the client asked for; the
        # deployment's model is the best account of what actually answered.
        record.response_model = record.request_model
    record.attribution.agent_id, record.attribution.agent_name = read_agent(
        config.agent_from, request_metadata, metadata, record.attribution.tags, limit
    )
    if record.attribution.end_user is None and call_type != _providers.PASS_THROUGH_CALL_TYPE:
        # SDK calls: the OpenAI-style ``user`` parameter names the end user. (Pass-through calls
        # carry LiteLLM's placeholder "unknown" there.)
        record.attribution.end_user = text(mapping(kw.get("optional_params")).get("user"), limit) or text(
            kw.get("user"), limit
        )
    record.headroom = read_headroom(metadata, hidden)
    record.conversation_id = text(slo.get("session_id"), limit)
    record.parent_carrier = carrier_from(request_metadata)
    if config.loop_mode != "off" and not record.failed:
        messages = kw.get("messages") or kw.get("input") or kw.get("prompt") or slo.get("messages")
        record.request_fingerprint, record.tail_fingerprint = fingerprints(messages)
    record.requested_model = (
        text(request_metadata.get("original_model_group"), limit) or record.model_group or record.request_model
    )
    if config.content_mode.enabled:
        record.content = _content.capture(slo.get("messages"), slo.get("response"), config.content_max_length)
    return record


# Request parameters LiteLLM reports in model_parameters (and the wrapper reads from kwargs).
PARAMETER_KEYS = (
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "temperature",
    "top_p",
    "top_k",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "n",
    "stop",
    "encoding_format",
)


def _read_parameters(record: InvocationRecord, params: Mapping[str, object], limit: int) -> None:
    if not params:
        return
    get = params.get
    # A call sets a few of these: the others are None, read without a call each.
    record.max_tokens = whole(get("max_tokens") or get("max_completion_tokens") or get("max_output_tokens"))
    if (value := get("temperature")) is not None:
        record.temperature = number(value)
    if (value := get("top_p")) is not None:
        record.top_p = number(value)
    if (value := get("top_k")) is not None:
        record.top_k = number(value)
    if (value := get("frequency_penalty")) is not None:
        record.frequency_penalty = number(value)
    if (value := get("presence_penalty")) is not None:
        record.presence_penalty = number(value)
    if (value := get("seed")) is not None:
        record.seed = whole(value)
    if (value := get("n")) is not None:
        record.choice_count = whole(value)
    if (value := get("stop")) is not None:
        record.stop_sequences = strings(value, limit)
    if (value := get("encoding_format")) is not None:
        record.encoding_formats = strings(value, limit)


def _asks_for_json(response_format: object) -> bool:
    """OpenAI-style ``response_format`` asking for JSON (``json_object`` or ``json_schema``)."""
    kind = mapping(response_format).get("type")
    return kind in ("json_object", "json_schema")


def _read_times(record: InvocationRecord, slo: Mapping[str, object]) -> None:
    record.start_ns = epoch_ns(slo.get("startTime"))
    # Without its start an end is meaningless (the span would start at emission, after it).
    record.end_ns = epoch_ns(slo.get("endTime")) if record.start_ns is not None else None
    if record.start_ns is not None and record.end_ns is not None and record.end_ns < record.start_ns:
        record.end_ns = record.start_ns
    if record.stream:
        first = epoch_ns(slo.get("completionStartTime"))
        # LiteLLM sets completionStartTime = endTime when no chunk was timed.
        if first is not None and record.start_ns is not None and record.start_ns <= first:
            record.first_chunk_ns = first


def _read_response(record: InvocationRecord, slo: Mapping[str, object], limit: int) -> None:
    response = slo.get("response")
    if not is_mapping(response):
        return
    record.response_id = text(response.get("id"), limit)
    response_model = text(response.get("model"), limit)
    if response_model:
        record.response_model = response_model
    reasons: list[str] = []
    choices = response.get("choices")
    if is_sequence(choices):
        for choice in choices[:64]:
            reason = text(attr(choice, "finish_reason"), limit)
            if reason:
                reasons.append(reason)
    else:
        # Responses API ("status") and Anthropic messages ("stop_reason").
        reason = text(response.get("stop_reason"), limit) or text(response.get("status"), limit)
        if reason:
            reasons.append(reason)
    record.finish_reasons = tuple(reasons)
    data = response.get("data")
    if record.operation == "embeddings" and is_sequence(data) and data:
        vector = attr(data[0], "embedding")
        if is_sequence(vector):
            record.embedding_dimensions = len(vector) or None


def _usage_of(slo: Mapping[str, object]) -> Mapping[str, object]:
    usage = mapping(mapping(slo.get("metadata")).get("usage_object"))
    if not usage:
        usage = mapping(mapping(slo.get("response")).get("usage"))
    return usage


def _read_usage(
    record: InvocationRecord, slo: Mapping[str, object], kw: Mapping[str, object], raw_provider: str | None
) -> None:
    usage = _usage_of(slo)
    record.input_tokens = count(slo.get("prompt_tokens"))
    record.output_tokens = count(slo.get("completion_tokens"))
    if record.input_tokens is None:
        record.input_tokens = count(usage.get("prompt_tokens")) or count(usage.get("input_tokens"))
    if record.output_tokens is None:
        record.output_tokens = count(usage.get("completion_tokens")) or count(usage.get("output_tokens"))
    prompt_details = mapping(usage.get("prompt_tokens_details"))
    completion_details = mapping(usage.get("completion_tokens_details"))
    record.cache_read_tokens = _positive(
        count(usage.get("cache_read_input_tokens")) or count(prompt_details.get("cached_tokens"))
    )
    record.cache_creation_tokens = _positive(
        count(usage.get("cache_creation_input_tokens")) or count(prompt_details.get("cache_creation_tokens"))
    )
    record.reasoning_tokens = _positive(count(completion_details.get("reasoning_tokens")))
    record.cost_usd = money(slo.get("response_cost"))
    if record.cost_usd is None:
        record.cost_usd = money(mapping(slo.get("hidden_params")).get("response_cost"))
    _read_cost_breakdown(record, slo)
    if slo.get("status") == "failure" or slo.get("error_str"):
        return
    tokens = (record.input_tokens or 0) + (record.output_tokens or 0)
    if tokens == 0 and record.operation in ("chat", "text_completion", "embeddings"):
        record.usage_source = "missing"
        # LiteLLM's zeros stand for "not reported": the conventions forbid reporting usage that
        # could not be obtained, and a 0 would drag token sums and percentiles down.
        record.input_tokens = record.output_tokens = None
    elif tokens > 0 and record.stream and _stream_usage_estimated(kw, raw_provider):
        record.usage_source = "estimated"
    elif tokens > 0:
        record.usage_source = "provider"
    if record.cache_hit:
        record.cost_source = "litellm"
    elif record.cost_usd == 0 and (tokens > 0 or slo.get("response_cost_failure_debug_info")):
        record.cost_source = "unpriced"
    elif record.cost_usd is not None:
        record.cost_source = "litellm"


def _positive(value: int | None) -> int | None:
    return value if value else None


# LiteLLM's cost_breakdown keys, by the component otel-llm names them.
_BREAKDOWN: Final = (
    ("input", "input_cost"),
    ("output", "output_cost"),
    ("cache_read", "cache_read_cost"),
    ("cache_creation", "cache_creation_cost"),
    ("reasoning", "reasoning_cost"),
    ("tool", "tool_usage_cost"),
)


def _uncached_input(costs: Mapping[str, float | None], total: float | None) -> float | None:
    """LiteLLM's input cost without its cache reads and writes, so the components add up to the total.

    LiteLLM documents ``input_cost`` as the uncached input only, but some releases and providers
    include the cache reads and writes in it: which one it is shows in what adds up to the total.
    """
    inp = costs["input"]
    cached = (costs["cache_read"] or 0.0) + (costs["cache_creation"] or 0.0)
    if inp is None or not cached or total is None:
        return inp
    rest = (costs["output"] or 0.0) + (costs["tool"] or 0.0)
    tolerance = 1e-12 + 1e-6 * total
    if abs(inp + rest - total) <= tolerance and abs(inp + cached + rest - total) > tolerance:
        return max(0.0, inp - cached)
    return inp


def _read_cost_breakdown(record: InvocationRecord, slo: Mapping[str, object]) -> None:
    """LiteLLM's cost components, and what the cache reads saved at the model's input price."""
    breakdown = mapping(slo.get("cost_breakdown"))
    if breakdown:
        get = breakdown.get
        costs = {component: money(get(key)) for component, key in _BREAKDOWN}
        costs["input"] = _uncached_input(costs, money(get("total_cost")) or record.cost_usd)
        record.cost_components = tuple([(component, usd) for component, usd in costs.items() if usd is not None])
    tokens = record.cache_read_tokens
    if not tokens:
        return
    prices = mapping(mapping(slo.get("model_map_information")).get("model_map_value"))
    input_rate = money(prices.get("input_cost_per_token"))
    if input_rate is None:
        return
    paid = money(breakdown.get("cache_read_cost"))
    if paid is None:
        cache_rate = money(prices.get("cache_read_input_token_cost"))
        paid = tokens * (input_rate if cache_rate is None else cache_rate)
    saved = tokens * input_rate - paid
    record.cache_savings_usd = saved if saved > 0 else None


def _stream_usage_estimated(kw: Mapping[str, object], raw_provider: str | None) -> bool:
    """OpenAI-style streams report usage only when asked; otherwise LiteLLM counted it."""
    if (raw_provider or "").lower() not in _providers.OPENAI_STREAM_USAGE_OPT_IN:
        return False
    options = mapping(mapping(kw.get("optional_params")).get("stream_options"))
    if not options:
        options = mapping(kw.get("stream_options"))
    return options.get("include_usage") is not True


def _read_error(record: InvocationRecord, slo: Mapping[str, object], limit: int, kw: Mapping[str, object]) -> None:
    info = mapping(slo.get("error_information"))
    error_class = text(info.get("error_class"), limit)
    message = text(info.get("error_message"), limit) or text(slo.get("error_str"), limit)
    if slo.get("status") == "failure" or error_class or message:
        record.error_type = error_class or "_OTHER"
        if message:
            # A provider may echo the key in its error: remove the call's own credentials verbatim.
            record.error_message = scrub(message, call_secrets(kw))[:limit]
        code = info.get("error_code")  # "401" (LiteLLM writes it as text), or an int
        if isinstance(code, str) and len(code) == 3 and code.isascii() and code.isdigit():
            status: int | None = int(code)
        else:
            status = whole(code)
        if status is not None and 100 <= status <= 599:
            record.error_status_code = status


def call_secrets(kwargs: Mapping[str, object]) -> tuple[str, ...]:
    """The credentials a call's error message could echo: its own and its deployment's keys, and the
    environment's (a provider key LiteLLM read from OPENAI_API_KEY and the like)."""
    return known_secrets(kwargs, mapping(kwargs.get("litellm_params")))


def _drop_unreported_usage(record: InvocationRecord) -> None:
    """LiteLLM reports a failed call with 0 tokens and a 0.0 cost when nothing was reported: not
    known, rather than zero. (A provider that bills a failure reports non-zero counts, kept.)"""
    if not record.input_tokens:
        record.input_tokens = None
    if not record.output_tokens:
        record.output_tokens = None
    if not record.cost_usd:
        record.cost_usd = None
        record.cost_source = None


def _request_metadata(kw: Mapping[str, object]) -> Mapping[str, object]:
    params = mapping(kw.get("litellm_params"))
    return metadata_of(params) or metadata_of(kw)


def _read_route(record: InvocationRecord, metadata: Mapping[str, object], limit: int) -> None:
    """Router attempts carry their retry index, fallback depth and the failures before them
    (``metadata``: the request's, as the Router wrote it)."""
    record.retry_index = count(metadata.get("attempted_retries"))
    record.fallback_depth = count(metadata.get("attempted_fallbacks"))
    if not record.model_group:
        record.model_group = text(metadata.get("model_group"), limit)
    record.route_step = route_step(
        record.model_group, record.retry_index, record.fallback_depth, metadata.get("previous_models"), limit
    )


def route_step(
    model_group: str | None,
    retry_index: int | None,
    fallback_depth: int | None,
    previous: object,
    limit: int,
) -> RouteStep | None:
    """The retry or fallback that led to this attempt, if any."""
    if not retry_index and not fallback_depth:  # a first attempt (nearly every one)
        return None
    last: Mapping[str, object] = {}
    if is_sequence(previous) and previous:
        last = mapping(previous[-1])
    error_type = text(last.get("exception_type"), limit)
    # LiteLLM ≥ 1.108 records the failed attempt's model group in the breadcrumb; older
    # releases (1.102) keep the attempt's whole metadata there instead.
    from_group = text(last.get("model_group"), limit) or text(
        (mapping(last.get("metadata")) or mapping(last.get("litellm_metadata"))).get("model_group"), limit
    )
    if retry_index:
        return RouteStep("retry", from_group or model_group, model_group, error_type, retry_index)
    if fallback_depth:
        return RouteStep("fallback", from_group, model_group, error_type, 0)
    return None
