"""Finishing a live call: merge the callback's record with what the wrapper measured.

Failed attempts are reported by the wrapper as soon as it sees the exception: the LiteLLM
proxy reports only the first failure of a request to its callbacks, so a retry's failure
would otherwise never be seen. When LiteLLM's success callback never arrives, the record
is rebuilt from the call's kwargs and response object and marked incomplete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Final

from .._config import Config
from .._loop.guard import observe as observe_loops
from .._record import InvocationRecord
from .._redact import scrub, server_of
from .._shapes import mapping
from . import loop_end, payload
from .call import LiveCall
from .fields import attr, count, money, text
from .live import REGISTRY
from .payload import call_secrets

# How LiteLLM's proxy reports a client that hung up (its error_information.error_class).
CLIENT_DISCONNECTED: Final = "ClientDisconnected"
# Raised into a stream's reader when whoever reads it stops: a letting go, not a failure.
LET_GO: Final = (asyncio.CancelledError, GeneratorExit)


def finish(call: LiveCall, record: InvocationRecord | None, *, complete: bool = False) -> None:
    """Complete the call's span once, from ``record`` or (None) from the wrapper's view.

    ``complete`` says the wrapper's view is the whole story (a failure), so the span is
    not marked incomplete.
    """
    with call.lock:
        if call.finished:
            return
        if record is not None and call.abandoned_ns is not None:
            if record.error_type is None:
                # LiteLLM reported the whole stream: the caller let go after its last chunk, not before.
                call.mark_ended_at_last_chunk()
            elif record.error_type == CLIENT_DISCONNECTED:
                # LiteLLM's proxy reports the client hanging up as a failure: the attempt was abandoned.
                record.error_type = record.error_message = None
        if record is not None and _awaits_stream_end(call, record):
            # LiteLLM reported the stream before our proxy saw its end: finish at the end.
            call.hold(record)
            return
        call.claim_finish()
    if record is None:
        record = record_from_call(call)
        record.incomplete = not complete
    _merge(call, record)
    call.telemetry.emit(record, call.span)


def _awaits_stream_end(call: LiveCall, record: InvocationRecord) -> bool:
    """Whether a success report of a stream is early: the stream is still being read.

    A failure report never waits. A streamed attempt that fails as it starts (an HTTP 500 from
    the provider, which the Router then retries) still looks like a stream in flight when LiteLLM
    reports it, and LiteLLM reports it before the exception reaches our wrapper: no stream will
    ever end to finish it, and the wrapper finds it already taken by the report.
    """
    return (
        call.streaming
        and not call.stream_done
        and call.abandoned_ns is None  # let go of: no end will come
        and call.error is None
        and record.error_type is None
    )


def attempt_failed(call: LiveCall, error: BaseException) -> None:
    """The wrapped call raised: report the failed attempt now (unless its callback came first)."""
    call.mark_failed(error)
    if REGISTRY.remove(call):
        REGISTRY.note_failure_reported(call.call_id)
        finish(call, None, complete=True)
        return
    # The callback took the call first. Had it left its record waiting for the end of a stream,
    # that end will not come now: finish with the record (``finish`` ignores a finished call).
    with call.lock:
        pending = call.pending_record
    if pending is not None:
        finish(call, pending)


def stream_ended(call: LiveCall, error: BaseException | None) -> None:
    """The observed stream was exhausted or failed."""
    if isinstance(error, LET_GO):
        # Cancelled while reading (the proxy's client hung up, the caller's task was cancelled):
        # the caller let go of the stream; the provider did not fail.
        stream_abandoned(call, False)
        return
    with call.lock:
        pending = call.mark_stream_end(error)
    if pending is not None:
        finish(call, pending)
    elif error is not None and REGISTRY.remove(call):
        REGISTRY.note_failure_reported(call.call_id)
        finish(call, None, complete=True)


def stream_abandoned(call: LiveCall, finalizing: bool) -> None:
    """The caller let go of the stream before its end: the attempt ends now, marked abandoned.

    Only marks the call (plain attribute writes, safe from a finalizer); the sweeper finishes it
    within a second.
    """
    if call.stream_done or call.abandoned_ns is not None:
        return
    if call.pending_record is not None:
        # LiteLLM has reported the whole stream already; only our proxy had not seen the end.
        if finalizing:  # no locks here: the sweeper finishes it at its next tick (within a second)
            REGISTRY.defer(lambda: stream_ended(call, None), first=True)
        else:
            stream_ended(call, None)
        return
    call.mark_abandoned()
    if not finalizing:
        REGISTRY.wake()


def observe_loop_now(call: LiveCall) -> None:
    """Block mode: feed the loop detector from the returned response, before LiteLLM's report.

    Unless the report came first: a sync call's callback runs on LiteLLM's thread pool and can
    finish before the call returns to the wrapper. Each call is observed once (under its lock, in
    ``observe_loop_once``; the unlocked check only spares building a record that would go unused).
    """
    if not call.loop_observed:
        observe_loop_once(call, record_from_call(call), call.telemetry.config)


def observe_loop_once(call: LiveCall | None, record: InvocationRecord, config: Config) -> None:
    """The callback's loop observation: the outcome observed at return if there was one, else
    this record's, observed now and kept so the wrapper's return does not count the call again."""
    if call is None:
        observe_loops(record, config)
        return
    with call.lock:
        if call.loop_observed:
            record.loop = call.loop_detection
            record.spend_per_minute = call.spend_per_minute
            return
        observe_loops(record, config)
        call.keep_loop_outcome(record)


def _merge(call: LiveCall, record: InvocationRecord) -> None:
    record.call_id = call.call_id
    record.start_ns = call.start_ns
    if call.abandoned_ns is not None and call.end_ns is None:
        record.end_ns = call.abandoned_ns
        record.stream_abandoned = True
    elif call.end_ns is not None:
        record.end_ns = call.end_ns
    elif record.end_ns is None or record.end_ns < call.start_ns:
        # Never reported, swept after the callback timeout: a stream read part-way ends at its
        # last chunk (the sweep is up to a minute later); anything else at the sweep.
        if call.streaming and call.last_chunk_mono is not None:
            record.end_ns = call.start_ns + (call.last_chunk_mono - call.start_mono)
        else:
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
        record.error_message = error_message(
            call.error, call.telemetry.config.attribute_max_length, call_secrets(call.kwargs)
        )


def error_message(error: BaseException, limit: int, secrets: tuple[str, ...] = ()) -> str | None:
    """The exception's message, scrubbed of credentials (``secrets`` removed verbatim) and truncated."""
    try:
        message = str(error)
    except Exception:  # noqa: BLE001  # a foreign __str__ may raise
        return None
    return scrub(message, secrets)[:limit] or None


def _provider_of(call: LiveCall) -> tuple[str | None, str | None]:
    """(custom_llm_provider, api_base) as LiteLLM would resolve them for this call."""
    kwargs = call.kwargs
    provider = kwargs.get("custom_llm_provider") or getattr(call.error, "llm_provider", None)
    api_base = kwargs.get("api_base")
    model = kwargs.get("model")
    if isinstance(model, str) and (not provider or not api_base):
        try:
            import litellm  # noqa: PLC0415  # only on this rare path

            _, found_provider, _, found_base = litellm.get_llm_provider(model=model, api_base=api_base)
        except Exception:  # noqa: BLE001  # an unknown model: keep what we have
            found_provider, found_base = None, None
        provider = provider or found_provider
        api_base = api_base or found_base
    return (provider if isinstance(provider, str) else None), (api_base if isinstance(api_base, str) else None)


def record_from_call(call: LiveCall) -> InvocationRecord:
    """What the wrapper alone knows of a call: request kwargs, response object or exception."""
    config = call.telemetry.config
    limit = config.attribute_max_length
    kwargs = call.kwargs
    provider, api_base = _provider_of(call)
    metadata = mapping(kwargs.get("metadata")) or mapping(kwargs.get("litellm_metadata"))
    model_info = mapping(metadata.get("model_info"))
    synthetic: dict[str, object] = {
        "litellm_call_id": call.call_id,
        "call_type": call.call_type,
        "model": kwargs.get("model") if isinstance(kwargs.get("model"), str) else call.request_model,
        "model_group": metadata.get("model_group"),
        "model_id": model_info.get("id"),
        "model_parameters": {k: kwargs.get(k) for k in payload.PARAMETER_KEYS if k in kwargs},
        "stream": call.streaming,
        "custom_llm_provider": provider,
        "api_base": api_base,
        "metadata": metadata,
        "end_user": kwargs.get("user"),
        "status": "failure" if call.error is not None else "success",
        "messages": kwargs.get("messages") or kwargs.get("input") or kwargs.get("prompt"),
    }
    response = call.response
    if response is not None and not call.streaming and call.error is None:
        hidden = mapping(attr(response, "_hidden_params"))
        synthetic["response"] = _response_dict(response, limit)
        synthetic["response_cost"] = money(hidden.get("response_cost"))
        synthetic["custom_llm_provider"] = hidden.get("custom_llm_provider") or provider
        synthetic["api_base"] = hidden.get("api_base") or api_base
        synthetic["hidden_params"] = hidden
    usage = attr(response, "usage") if "response" in synthetic else call.stream_usage
    if usage is not None and call.error is None:
        synthetic["prompt_tokens"] = count(attr(usage, "prompt_tokens"))
        synthetic["completion_tokens"] = count(attr(usage, "completion_tokens"))
    record = payload.build_record(synthetic, {"litellm_params": {"metadata": metadata}}, config)
    if call.error is not None:
        record.error_type = type(call.error).__name__
        record.error_message = error_message(call.error, limit, call_secrets(call.kwargs))
    if record.server_address is None:
        record.server_address, record.server_port = server_of(api_base, limit)
    return record


def _response_dict(response: object, limit: int) -> Mapping[str, object]:
    choices = attr(response, "choices")
    reasons = []
    if isinstance(choices, list):
        reasons = [{"finish_reason": text(attr(c, "finish_reason"), limit)} for c in choices[:64]]
    return {"id": attr(response, "id"), "model": attr(response, "model"), "choices": reasons}


REGISTRY.set_finisher(finish)
loop_end.on_loop_end(REGISTRY.finish_loop)
