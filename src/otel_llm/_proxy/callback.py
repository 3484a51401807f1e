"""``ProxyCallback``: the OtelLLMCallback the LiteLLM proxy loads from config.yaml.

On top of the SDK callback it: installs SDK providers from the environment when none
exist, instruments LiteLLM in the proxy process (live Router and attempt spans), turns on
provider HTTP spans when asked, keeps FastAPI's own telemetry to its SERVER span, opens
a SERVER span per proxy request that continues the client's W3C trace (when FastAPI does not),
and polls budget state from LiteLLM's database when it has one (``_budgets/``).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import AsyncGenerator
from typing import Any, Final

from opentelemetry import propagate, trace
from opentelemetry._logs import LoggerProvider
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, TracerProvider

from .. import _errors
from .. import _names as n
from .._budgets.poller import BudgetPoller, start_budget_poller
from .._capture.attribution import salted_key_hash
from .._capture.dedupe import SEEN
from .._capture.fields import text
from .._capture.parent import PARENT_KEY
from .._capture.payload import build_record
from .._config import resolve
from .._export.handoff import install_handoff
from .._export.lean_providers import host_providers
from .._export.lean_spans import lean_tracer
from .._export.setup import Pipeline, install_providers
from .._export.shutdown import flush_before_reraised_signals
from .._loop.guard import LoopBlockedError, refusal
from .._record import Attribution
from .._shapes import mapping
from ..callback import OtelLLMCallback
from .agents import AgentTelemetry
from .fastapi_telemetry import configure_fastapi_telemetry
from .guardrails import GuardrailTelemetry
from .mcp import Installation, refuse_looping_tool
from .pass_through import failure_payload
from .requests import RequestSpans, end_request_span

_log: Final = logging.getLogger("otel_llm")
_HTTP_INSTRUMENTORS: Final = (
    ("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor", "httpx"),
    ("opentelemetry.instrumentation.aiohttp_client", "AioHttpClientInstrumentor", "aiohttp-client"),
)


def _instrument_http_clients() -> None:
    """Provider HTTP spans as children of attempt spans (httpx and LiteLLM's aiohttp transport).

    Opt-in (OTEL_LLM_PROXY_HTTP_SPANS): the attempt's CLIENT span already times each provider
    call, and the HTTP span and its ``http.client.*`` metrics cost about 4% of the proxy's
    throughput (benchmarks/).
    """
    disabled = {x.strip() for x in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    for module_name, class_name, entry_name in _HTTP_INSTRUMENTORS:
        if entry_name in disabled:
            continue
        try:
            instrumentor = getattr(importlib.import_module(module_name), class_name)()
        except ImportError:
            _log.debug("otel-llm: %s is not installed; no %s spans", module_name, entry_name)
            continue
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


class ProxyCallback(OtelLLMCallback):
    """The LiteLLM proxy callback: ``litellm_settings: callbacks: ["otel_llm.proxy.callback"]``."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        logger_provider: LoggerProvider | None = None,
        *,
        setup: bool = True,
    ) -> None:
        """``setup=False`` skips installing providers and instrumenting LiteLLM (tests, embedding)."""
        fastapi_spans = False
        config = resolve()
        pipeline = install_providers(config) if setup else Pipeline()
        super().__init__(
            tracer_provider,
            meter_provider,
            logger_provider,
            headroom_meter_provider=pipeline.headroom_meter_provider,
            metric_store=pipeline.metric_store,
            flush_too=pipeline.shared_reader,
            span_tracer=lean_tracer if pipeline.metric_store is not None else None,
        )
        self._requests = RequestSpans()
        # One span fewer per request: the Router request's counts go on the SERVER span.
        fold = not self.config.proxy_router_span
        self.telemetry.fold_router_into_server_span = fold
        if setup:
            install_handoff(self.telemetry, pipeline.metric_store is not None)
            from ..instrumentor import LiteLLMInstrumentor  # noqa: PLC0415  # imports litellm

            instrumentor = LiteLLMInstrumentor()
            # Under opentelemetry-instrument the entry point has instrumented LiteLLM already.
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(callback=self)
            elif instrumentor.callback is not None:  # its patches write through the entry point's telemetry
                instrumentor.callback.telemetry.fold_router_into_server_span = fold
            if self.config.proxy_http_spans:
                _instrument_http_clients()
            fastapi_spans = (
                configure_fastapi_telemetry(
                    self.config.proxy_fastapi_telemetry, providers=host_providers(pipeline.metric_store)
                )
                and self.config.proxy_fastapi_telemetry != "off"
            )
            flush_before_reraised_signals()
        # LiteLLM streams every chunk through each callback whose class defines the streaming
        # iterator hook, inside guarded layers of its own (three more async layers per chunk, and
        # guardrail checks per request); where no callback defines it, it streams straight through.
        # otel-llm needs the hook only to end a request span it opened itself, which it does not
        # where FastAPI makes the SERVER span.
        if not (setup and fastapi_spans):
            self.__class__ = _OwnRequestSpans
        # Budget state of every key and team from LiteLLM's database, polled by one process per deployment.
        self.budget_poller: BudgetPoller | None = (
            start_budget_poller(self.config, self.telemetry, meter_provider) if setup else None
        )
        # The gateway's other hops: one span per MCP operation, guardrail evaluation and A2A call.
        self.mcp = Installation(self.telemetry, self.config.proxy_mcp_upstream_spans)
        self.guardrails = GuardrailTelemetry(self.telemetry)
        self.agents = AgentTelemetry(self.telemetry)
        if setup:
            self.mcp.install()
            self.guardrails.install()
            self.agents.install()

    # --- proxy request spans -------------------------------------------------------
    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> None:
        if call_type == "call_mcp_tool":
            refuse_looping_tool(self.telemetry, user_api_key_dict)
            return
        self._refuse_if_looping(user_api_key_dict, data)
        with _errors.boundary("proxy.pre_call"):
            self._start_request(user_api_key_dict, data)

    def _refuse_if_looping(self, user_api_key_dict: Any, data: dict[str, Any]) -> None:
        """Block mode: answer 429 (saying why and until when) before the request reaches a provider."""
        if self.config.loop_mode != "block":
            return
        refused = self._loop_refusal(user_api_key_dict, data)
        if refused is None:
            return
        from fastapi import HTTPException  # noqa: PLC0415  # the proxy's own web framework

        raise HTTPException(status_code=429, detail=str(refused), headers={"retry-after": str(refused.retry_after_s)})

    @_errors.guarded("proxy.loop_guard")
    def _loop_refusal(self, user_api_key_dict: Any, data: dict[str, Any]) -> LoopBlockedError | None:
        """The refusal of this request, counted, if its caller is cooling down from a loop."""
        token = text(getattr(user_api_key_dict, "token", None), 256)
        who = Attribution(
            key_hash=salted_key_hash(token) if token else None,
            key_alias=text(getattr(user_api_key_dict, "key_alias", None), 256),
            team_id=text(getattr(user_api_key_dict, "team_id", None), 256),
        )
        end_user = text(data.get("user"), 256) or text(getattr(user_api_key_dict, "end_user_id", None), 256)
        session = text(data.get("litellm_session_id"), 256)
        model = text(data.get("model"), 256)
        block = refusal(self.config, who.key_hash, end_user, session, model)
        if block is None:
            return None
        self.telemetry.record_loop_refusal(block.reason, who, model_group=model)
        return LoopBlockedError(block, f"key {who.key_alias!r}" if who.key_alias else "this caller")

    def _start_request(self, user_api_key_dict: Any, data: dict[str, Any]) -> None:
        if not is_instrumentation_enabled() or trace.get_current_span().get_span_context().is_valid:
            return  # a server instrumentation (FastAPI under opentelemetry-instrument) owns the request span
        call_id = data.get("litellm_call_id")
        if not isinstance(call_id, str):
            return
        request = mapping(data.get("proxy_server_request"))
        headers = mapping(request.get("headers"))
        carrier = {k.lower(): v for k, v in headers.items() if isinstance(k, str) and isinstance(v, str)}
        limit = self.config.attribute_max_length
        route = text(getattr(user_api_key_dict, "request_route", None), limit) or "/"
        attributes: dict[str, Any] = {"http.request.method": "POST", "http.route": route, "url.path": route}
        token = text(getattr(user_api_key_dict, "token", None), 256)
        for key, value in (
            (n.KEY_HASH, salted_key_hash(token) if token else None),
            (n.KEY_ALIAS, text(getattr(user_api_key_dict, "key_alias", None), limit)),
            (n.TEAM_ID, text(getattr(user_api_key_dict, "team_id", None), limit)),
            (n.TEAM_ALIAS, text(getattr(user_api_key_dict, "team_alias", None), limit)),
        ):
            if value:
                attributes[key] = value
        span = self.telemetry.tracer.start_span(
            f"POST {route}", context=propagate.extract(carrier), kind=SpanKind.SERVER, attributes=attributes
        )
        outgoing: dict[str, str] = {}
        propagate.inject(outgoing, context=trace.set_span_in_context(span))
        metadata_key = "litellm_metadata" if isinstance(data.get("litellm_metadata"), dict) else "metadata"
        metadata = data.setdefault(metadata_key, {})
        if isinstance(metadata, dict):
            metadata[PARENT_KEY] = outgoing
        self._requests.add(call_id, span)

    async def async_post_call_success_hook(self, data: dict[str, Any], user_api_key_dict: Any, response: Any) -> None:
        with _errors.boundary("proxy.post_call"):
            span = self._requests.pop(data.get("litellm_call_id"))
            if span is not None:
                end_request_span(span, 200, None)

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: Any,
        traceback_str: str | None = None,
    ) -> None:
        with _errors.boundary("proxy.post_call"):
            self._report_pass_through_failure(request_data, original_exception, user_api_key_dict)
            span = self._requests.pop(request_data.get("litellm_call_id"))
            if span is not None:
                status = getattr(original_exception, "status_code", None)
                end_request_span(span, status if isinstance(status, int) else 500, original_exception)

    def _report_pass_through_failure(self, request_data: dict[str, Any], error: Exception, user: Any) -> None:
        """A provider error on a pass-through route: a failed attempt span (under the request's
        SERVER span, current here) and its duration point, as LiteLLM reports nowhere else."""
        if not is_instrumentation_enabled():
            return
        payload = failure_payload(request_data, error, user)
        if payload is None:
            return
        call_id = text(payload.get("litellm_call_id"), 256)
        if call_id is not None and not SEEN.first_time(f"{call_id}|pass-through failure"):
            return
        self.telemetry.emit(build_record(payload, request_data, self.config))


class _OwnRequestSpans(ProxyCallback):
    """A ProxyCallback that opens request spans of its own (FastAPI makes none): it also ends a
    streamed request's span when its stream ends. ``ProxyCallback`` becomes this class when it finds
    so, and only then, because LiteLLM reads the hook's presence from the class.

    LiteLLM reads which hooks a callback defines from its class's own dict, not its bases': the hooks
    ProxyCallback defines are this class's too (tests/test_proxy_defaults.py checks every one)."""

    async_pre_call_hook = ProxyCallback.async_pre_call_hook
    async_post_call_success_hook = ProxyCallback.async_post_call_success_hook
    async_post_call_failure_hook = ProxyCallback.async_post_call_failure_hook

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        span = None
        with _errors.boundary("proxy.stream"):
            span = self._requests.pop(request_data.get("litellm_call_id"))
        failure: BaseException | None = None
        try:
            async for chunk in response:
                yield chunk
        except BaseException as error:
            failure = error
            raise
        finally:
            if span is not None:
                with _errors.boundary("proxy.stream"):
                    end_request_span(span, 500 if failure is not None else 200, failure)
