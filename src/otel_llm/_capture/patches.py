"""The wrappers around LiteLLM's entry points: live attempt spans and Router parent spans.

Capture builds records and opens live spans through the Telemetry object; the
callback completes them. The user's exception always propagates unchanged.
``patching`` applies them to LiteLLM and takes them off.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from contextvars import Token
from typing import Any, Final, TypeVar

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from .. import _errors, _providers
from .._emit.spans import context_when_detached
from .._emit.telemetry import Telemetry
from .._record import RouterOutcome
from .._shapes import mapping
from .call import LiveCall
from .complete import LET_GO, attempt_failed, error_message, observe_loop_now, stream_abandoned, stream_ended
from .fields import count, text
from .live import REGISTRY
from .loop_check import check_loop_guard
from .loop_end import watch_current_loop
from .parent import carrier_from, metadata_of
from .payload import call_secrets, route_step
from .router import ROUTER_KEY, RouterRequest, ServerSpanClaims
from .router import current as current_router
from .streams import is_stream, observe
from .targets import Target

# Set while an attempt span is live: LiteLLM calling itself (acompletion → completion,
# aembedding → embedding) must not open a second span.
IN_LLM_CALL_KEY: Final = context.create_key("otel_llm.in_llm_call")
# The key other GenAI instrumentations (OpenLLMetry's OpenAI SDK instrumentation among
# them) check, so provider SDK calls under LiteLLM don't produce duplicate LLM spans.
SUPPRESS_LLM_KEY: Final = "suppress_language_model_instrumentation"

Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]


def _should_instrument(caller: Context) -> bool:
    """Whether a call made in the ``caller``'s context (the current one) gets telemetry."""
    return not caller.get(IN_LLM_CALL_KEY) and is_instrumentation_enabled()


def _model_of(target: Target, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
    model = kwargs.get("model")
    if model is None and len(args) > target.model_arg:
        model = args[target.model_arg]
    return model if isinstance(model, str) else None


def _display_model(model: str | None, kwargs: Mapping[str, Any], limit: int) -> str | None:
    model = text(model, limit)
    if model is None:
        return None
    provider = kwargs.get("custom_llm_provider")
    if isinstance(provider, str):
        return _providers.strip_provider_prefix(model, provider)
    head, sep, tail = model.partition("/")
    # openai/gpt-4o-mini → gpt-4o-mini, as LiteLLM reports the model in its callback.
    return tail if sep and tail and head.lower() in _KNOWN_PREFIXES else model


_KNOWN_PREFIXES: Final = frozenset(
    {
        "openai",
        "anthropic",
        "azure",
        "azure_ai",
        "bedrock",
        "vertex_ai",
        "gemini",
        "cohere",
        "cohere_chat",
        "mistral",
        "groq",
        "deepseek",
        "xai",
        "perplexity",
        "watsonx",
        "ollama",
        "ollama_chat",
        "together_ai",
        "openrouter",
        "fireworks_ai",
        "hosted_vllm",
        "text-completion-openai",
        "sagemaker",
        "huggingface",
    }
)


def _new_call_id() -> str:
    # A random version-4 UUID without uuid4's system call on every LLM call (LiteLLM would
    # make one itself otherwise), formatted as str(uuid.UUID(...)) formats it without building
    # the UUID object. ``random`` is reseeded in forked children by Python.
    bits = random.getrandbits(128) & ~(0xF000 << 64) | (0x4000 << 64)
    bits = bits & ~(0xC000 << 48) | (0x8000 << 48)
    digits = f"{bits:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


# --- one lifecycle for every wrapper: begin → call → failed or returned ---------------------
_State = TypeVar("_State")


def _wrapper(
    is_async: bool,
    begin: Callable[[tuple[Any, ...], dict[str, Any]], tuple[_State | None, Token[Context] | None]],
    failed: Callable[[_State, BaseException], None],
    returned: Callable[[_State, Any, dict[str, Any]], Any],
) -> Wrapper:
    """A wrapt wrapper: the user's exception always propagates unchanged, the context is restored."""
    if is_async:

        async def run_async(wrapped: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            state, token = begin(args, kwargs)
            if state is None:
                return await wrapped(*args, **kwargs)
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as error:
                failed(state, error)
                raise
            finally:
                if token is not None:
                    context.detach(token)
            return returned(state, result, kwargs)

        def async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return run_async(wrapped, args, kwargs)

        return async_wrapper

    def sync_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        state, token = begin(args, kwargs)
        if state is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            failed(state, error)
            raise
        finally:
            if token is not None:
                context.detach(token)
        return returned(state, result, kwargs)

    return sync_wrapper


# --- attempts ---------------------------------------------------------------------------
# The key the API keeps the current span under, found through the API itself: the attempt's
# context is built in one copy of the caller's (its span, IN_LLM_CALL_KEY, SUPPRESS_LLM_KEY).
_SPAN_KEY: Final = next(iter(trace.set_span_in_context(trace.INVALID_SPAN, Context())))


def _begin_attempt(
    telemetry: Telemetry,
    target: Target,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    caller: Context,
    router: RouterRequest | None,
) -> tuple[LiveCall, Token[Context]]:
    """Open the attempt's live span in the ``caller``'s context (the current one) and make it current."""
    limit = telemetry.config.attribute_max_length
    call_id = kwargs.get("litellm_call_id")
    if not isinstance(call_id, str) or not call_id or call_id in REGISTRY:
        call_id = _new_call_id()
        kwargs["litellm_call_id"] = call_id
    operation, _ = _providers.operation_of(target.call_type)
    model = _display_model(_model_of(target, args, kwargs), kwargs, limit)
    if router is not None:
        metadata = mapping(kwargs.get("metadata")) or mapping(kwargs.get("litellm_metadata"))
        group = text(metadata.get("model_group"), limit)
        step = route_step(
            group,
            count(metadata.get("attempted_retries")),
            count(metadata.get("attempted_fallbacks")),
            metadata.get("previous_models"),
            limit,
        )
        router.note_attempt(step)
        if step is not None:
            telemetry.note_route_step(router.span, step)
    start_ns = time.time_ns()
    mono = time.perf_counter_ns()
    parent = caller
    if not trace.get_current_span(caller).get_span_context().is_valid:
        # No span is current (the proxy without server instrumentation): the request's own
        # propagation headers, if LiteLLM kept them, carry the caller's trace.
        parent = context_when_detached(carrier_from(metadata_of(kwargs))) or caller
    span = telemetry.start_attempt_span(operation, model, start_ns, parent)
    call = LiveCall(
        call_id=call_id,
        span=span,
        telemetry=telemetry,
        operation=operation,
        call_type=target.call_type,
        request_model=model,
        kwargs=kwargs,
        start_ns=start_ns,
        start_mono=mono,
        last_activity_mono=mono,
        streaming=kwargs.get("stream") is True,
        # Its report must come before its loop closes (asyncio.run per job): see loop_end.
        loop=watch_current_loop(telemetry.config.exit_timeout_s) if target.is_async else None,
    )
    REGISTRY.add(call)
    values = dict(caller)
    values[_SPAN_KEY] = span
    values[IN_LLM_CALL_KEY] = True
    values[SUPPRESS_LLM_KEY] = True
    return call, context.attach(Context(values))


def _attempt_returned(call: LiveCall, result: Any) -> Any:
    call.mark_returned(result)
    router = current_router()
    if router is not None:
        router.served_model_group = text(
            (mapping(call.kwargs.get("metadata")) or mapping(call.kwargs.get("litellm_metadata"))).get("model_group"),
            call.telemetry.config.attribute_max_length,
        )
    if call.streaming and is_stream(result):
        return observe(
            result,
            call.mark_chunk,
            lambda error: stream_ended(call, error),
            lambda finalizing: stream_abandoned(call, finalizing),
        )
    if call.telemetry.config.loop_mode == "block":
        observe_loop_now(call)
    return result


def _attempt_failed(call: LiveCall, error: BaseException) -> None:
    attempt_failed(call, error)
    router = current_router()
    if router is not None:
        router.last_error = error
        router.secrets = tuple(dict.fromkeys((*router.secrets, *call_secrets(call.kwargs))))


def attempt_wrapper(telemetry: Telemetry, target: Target) -> Wrapper:
    """The wrapper for one LiteLLM entry point (sync or async by the target)."""

    # Once per LLM call in the caller's thread: the current context is read once.
    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[LiveCall | None, Token[Context] | None]:
        caller = context.get_current()
        if not _should_instrument(caller):
            return None, None
        router = current_router(caller)
        if router is None and telemetry.config.loop_mode == "block":  # a Router request was checked at its start
            check_loop_guard(telemetry, kwargs, _display_model(_model_of(target, args, kwargs), kwargs, 256))
        with _errors.boundary("capture.patch"):
            return _begin_attempt(telemetry, target, args, kwargs, caller, router)
        return None, None

    def returned(call: LiveCall, result: Any, kwargs: dict[str, Any]) -> Any:
        with _errors.boundary("capture.patch"):
            return _attempt_returned(call, result)
        return result

    def failed(call: LiveCall, error: BaseException) -> None:
        with _errors.boundary("capture.patch"):
            _attempt_failed(call, error)

    return _wrapper(target.is_async, begin, failed, returned)


# --- router requests ----------------------------------------------------------------------
def _finish_router(telemetry: Telemetry, request: RouterRequest, error: BaseException | None) -> None:
    with request.lock:
        if request.finished:
            return
        request.finished = True
    secrets = request.secrets or call_secrets({})
    outcome = RouterOutcome(
        request.attempts,
        request.retries,
        request.fallbacks,
        served_model_group=request.served_model_group if error is None else None,
        error_type=type(error).__name__ if error is not None else None,
        error_message=(
            error_message(error, telemetry.config.attribute_max_length, secrets) if error is not None else None
        ),
    )
    telemetry.finish_router_span(request.span, outcome, owned=request.owns_span)


_SERVER_SPANS: Final = ServerSpanClaims()


def _start_router_request(
    telemetry: Telemetry, operation: str, group: str | None, kwargs: Mapping[str, Any]
) -> tuple[RouterRequest, Context]:
    """The Router request and the context its attempts run in: under the proxy's SERVER span
    (folded into it) or under a Router span of its own."""
    server = _SERVER_SPANS.claim_current() if telemetry.fold_router_into_server_span else None
    if server is not None:
        telemetry.fold_router_request(server, group)
        request = RouterRequest(server, operation, group, owns_span=False)
        return request, context.set_value(ROUTER_KEY, request)
    carrier = carrier_from(metadata_of(kwargs))
    request = RouterRequest(telemetry.start_router_span(operation, group, carrier), operation, group)
    return request, context.set_value(ROUTER_KEY, request, trace.set_span_in_context(request.span))


def router_wrapper(telemetry: Telemetry, target: Target) -> Wrapper:
    """The wrapper for one Router method: one parent span per logical request."""
    operation, _ = _providers.operation_of(target.call_type)

    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[RouterRequest | None, Token[Context] | None]:
        caller = context.get_current()
        if not _should_instrument(caller) or current_router(caller) is not None:
            return None, None
        check_loop_guard(telemetry, kwargs, text(_model_of(target, args, kwargs), 256))
        with _errors.boundary("capture.router"):
            group = text(_model_of(target, args, kwargs), telemetry.config.attribute_max_length)
            request, ctx = _start_router_request(telemetry, operation, group, kwargs)
            return request, context.attach(ctx)
        return None, None

    def finish(request: RouterRequest, error: BaseException | None) -> None:
        with _errors.boundary("capture.router"):
            _finish_router(telemetry, request, error)

    def abandoned(request: RouterRequest, finalizing: bool) -> None:
        # The caller let go of the stream: the request ends now (from a finalizer, on the
        # sweeper's thread, after the abandoned attempt it waits for).
        REGISTRY.defer(lambda: finish(request, None))
        if not finalizing:
            REGISTRY.wake()

    def returned(request: RouterRequest, result: Any, kwargs: Mapping[str, Any]) -> Any:
        with _errors.boundary("capture.router"):
            if kwargs.get("stream") is True and is_stream(result):
                return observe(
                    result,
                    None,  # the Router request's end, not its chunks (its attempt's stream times them)
                    lambda error: abandoned(request, False) if isinstance(error, LET_GO) else finish(request, error),
                    lambda finalizing: abandoned(request, finalizing),
                )
        finish(request, None)
        return result

    return _wrapper(target.is_async, begin, finish, returned)
