"""Finishing a live call: merge the callback's record with what the wrapper measured.

When LiteLLM's callback never arrives, the record is rebuilt from the call's kwargs,
its response object or its exception, so the span and metrics are still emitted.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._record import InvocationRecord
from .._redact import scrub, server_of
from . import payload
from .fields import attr, count, mapping, money, text
from .live import REGISTRY, LiveCall


def finish(call: LiveCall, record: InvocationRecord | None) -> None:
    """Complete the call's span once, from ``record`` or (None) from the wrapper's view."""
    with call.lock:
        if call.finished:
            return
        if record is not None and call.streaming and not call.stream_done and call.error is None:
            # LiteLLM reported the stream before our proxy saw its end: finish at the end.
            call.pending_record = record
            return
        call.finished = True
    if record is None:
        record = record_from_call(call)
        record.incomplete = True
    _merge(call, record)
    call.telemetry.emit(record, call.span)


def stream_ended(call: LiveCall, error: BaseException | None) -> None:
    """The observed stream was exhausted or failed."""
    with call.lock:
        call.stream_done = True
        call.end_ns = call.now_ns()
        if error is not None:
            call.error = error
        pending = call.pending_record
    if pending is not None:
        finish(call, pending)


def _merge(call: LiveCall, record: InvocationRecord) -> None:
    record.call_id = call.call_id
    record.start_ns = call.start_ns
    if call.end_ns is not None:
        record.end_ns = call.end_ns
    elif record.end_ns is None or record.end_ns < call.start_ns:
        record.end_ns = call.now_ns()
    if call.first_chunk_ns is not None:
        record.first_chunk_ns = call.first_chunk_ns
        record.chunk_intervals_s = tuple(call.chunk_intervals_s)
    if record.stream is None and call.streaming:
        record.stream = True
    if record.request_model is None:
        record.request_model = call.request_model
    if record.error_type is None and call.error is not None:
        record.error_type = type(call.error).__name__
        record.error_message = error_message(call.error, call.telemetry.config.attribute_max_length)


def error_message(error: BaseException, limit: int) -> str | None:
    try:
        message = str(error)
    except Exception:  # noqa: BLE001  # a foreign __str__ may raise
        return None
    return scrub(message)[:limit] or None


def record_from_call(call: LiveCall) -> InvocationRecord:
    """What the wrapper alone knows of a call: request kwargs, response object or exception."""
    config = call.telemetry.config
    limit = config.attribute_max_length
    kwargs = call.kwargs
    params = {k: kwargs.get(k) for k in payload.PARAMETER_KEYS if k in kwargs}
    synthetic: dict[str, object] = {
        "litellm_call_id": call.call_id,
        "call_type": call.call_type,
        "model": call.request_model,
        "model_parameters": params,
        "stream": call.streaming,
        "custom_llm_provider": kwargs.get("custom_llm_provider"),
        "api_base": kwargs.get("api_base"),
    }
    response = call.response
    if response is not None and not call.streaming:
        hidden = mapping(attr(response, "_hidden_params"))
        synthetic["response"] = _response_dict(response, limit)
        synthetic["response_cost"] = money(hidden.get("response_cost"))
        synthetic["custom_llm_provider"] = hidden.get("custom_llm_provider") or synthetic["custom_llm_provider"]
        synthetic["api_base"] = hidden.get("api_base") or synthetic["api_base"]
        usage = attr(response, "usage")
        synthetic["prompt_tokens"] = count(attr(usage, "prompt_tokens"))
        synthetic["completion_tokens"] = count(attr(usage, "completion_tokens"))
    metadata = mapping(kwargs.get("metadata")) or mapping(kwargs.get("litellm_metadata"))
    record = payload.build_record(synthetic, {"litellm_params": {"metadata": metadata}}, config)
    if call.error is not None:
        record.error_type = type(call.error).__name__
        record.error_message = error_message(call.error, limit)
    if record.server_address is None:
        record.server_address, record.server_port = server_of(kwargs.get("api_base"))
    return record


def _response_dict(response: object, limit: int) -> Mapping[str, object]:
    choices = attr(response, "choices")
    reasons = []
    if isinstance(choices, list):
        reasons = [{"finish_reason": text(attr(c, "finish_reason"), limit)} for c in choices[:64]]
    return {"id": attr(response, "id"), "model": attr(response, "model"), "choices": reasons}


REGISTRY.set_finisher(finish)
