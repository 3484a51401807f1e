"""``OtelLLMCallback``: the LiteLLM ``CustomLogger`` that always works.

Add it to ``litellm.callbacks`` (SDK) or reference an instance in the proxy's
``litellm_settings.callbacks``. It turns each ``standard_logging_object`` into one
invocation record and emits it: completing the live span the instrumentor opened for
that call, or writing a span backdated to LiteLLM's timestamps when there is none.
"""

from __future__ import annotations

from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from opentelemetry._logs import LoggerProvider
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from . import _config, _errors, _lifecycle
from ._capture.complete import finish, observe_loop_once
from ._capture.dedupe import SEEN
from ._capture.fields import text
from ._capture.hops import hop_of
from ._capture.inflight import report_hop
from ._capture.live import REGISTRY
from ._capture.loop_end import watch_current_loop
from ._capture.payload import build_record
from ._emit.store import MetricStore
from ._emit.telemetry import Flushable, Telemetry, TracerWrapper
from ._names import NO_UPSTREAM_LLM_CALL_KEY
from ._shapes import mapping

__all__ = ["OtelLLMCallback"]


class OtelLLMCallback(CustomLogger):
    """A LiteLLM callback that emits GenAI semantic-convention spans and metrics.

    Args:
        tracer_provider: where spans go; the global provider when None.
        meter_provider: where metrics go; the global provider when None.
        logger_provider: where opt-in content events go; the global provider when None.
        capture_content: overrides ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
            (one of NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT).
        headroom_meter_provider: where budget and rate-limit gauges go, when they should
            not carry this process's identity (the proxy passes one); ``meter_provider``
            otherwise.
        metric_store: otel-llm's own metric aggregation, when otel-llm built the readers that
            export it (the proxy's and the demo's pipelines); SDK instruments otherwise.
        flush_too: a reader flushed with the providers (the metric store's shared reader).
        span_tracer: makes the tracer otel-llm's spans start with, from the provider and its tracer
            (the lean spans of a pipeline otel-llm built itself).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        logger_provider: LoggerProvider | None = None,
        capture_content: str | None = None,
        *,
        headroom_meter_provider: MeterProvider | None = None,
        metric_store: MetricStore | None = None,
        flush_too: Flushable | None = None,
        span_tracer: TracerWrapper | None = None,
    ) -> None:
        super().__init__()
        # Strict mode (OTEL_LLM_RAISE_INTERNAL_ERRORS) is the process's, read once by _errors: one
        # callback's config does not switch it on for every other.
        self.config = _config.resolve(content_mode=capture_content)
        self.telemetry = Telemetry(
            self.config,
            tracer_provider,
            meter_provider,
            logger_provider,
            headroom_meter_provider,
            metric_store=metric_store,
            flush_too=flush_too,
            span_tracer=span_tracer,
        )
        _lifecycle.watch(self.telemetry)

    # LiteLLM calls these with keyword arguments: the parameter names must stay as they are.
    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        """Before each call, in the caller's thread: the first one arms the exit flush."""
        _lifecycle.arm()

    async def async_pre_call_deployment_hook(self, kwargs: Any, call_type: Any) -> None:
        """Before each async call, on the caller's event loop: that loop will run LiteLLM's report of
        the call before it closes (``asyncio.run`` per job), not only the exit hook."""
        with _errors.boundary("callback"):
            watch_current_loop(self.config.exit_timeout_s)

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        """LiteLLM's report of a successful call (sync): emit it, or complete its live span."""
        self._report(kwargs)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        """LiteLLM's report of a failed call (sync): emit it, or complete its live span."""
        self._report(kwargs)

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        """LiteLLM's report of a successful call (async): as ``log_success_event``."""
        self._report(kwargs, asynchronous=True)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        """LiteLLM's report of a failed call (async): as ``log_failure_event``."""
        self._report(kwargs, asynchronous=True)

    def _report(self, kwargs: object, asynchronous: bool = False) -> None:
        with _errors.boundary("callback"):
            self._handle(mapping(kwargs), asynchronous)

    def _handle(self, kwargs: Any, asynchronous: bool = False) -> None:
        if not is_instrumentation_enabled():
            return
        payload = mapping(kwargs.get("standard_logging_object"))
        hop = hop_of(payload)
        if hop is not None:
            # An MCP operation or an A2A call, never an LLM attempt. Reported from the async hooks
            # only: LiteLLM awaits them inside the operation, while the sync ones may run on a thread.
            if asynchronous:
                report_hop(self.telemetry, hop, payload, kwargs)
            return
        call_id = text(payload.get("litellm_call_id"), 256) or text(kwargs.get("litellm_call_id"), 256)
        failed = payload.get("status") == "failure" or bool(payload.get("error_str"))
        # One report per event, however many callback instances or hook flavours fire.
        event = f"{call_id}|{failed}|{payload.get('model_id')}|{payload.get('startTime')}"
        if call_id is not None and not SEEN.first_time(event):
            return
        if failed:
            already_reported, live = REGISTRY.take_for_failure(call_id)
            if already_reported:
                return
        else:
            live = REGISTRY.take_for_success(call_id)
        if live is None and REGISTRY.claim_late_report(call_id):
            return  # the wrapper finished this call without its report (swept, loop closed): no second span
        config = live.telemetry.config if live is not None else self.config
        record = build_record(payload, kwargs, config)
        if failed and live is None and kwargs.get(NO_UPSTREAM_LLM_CALL_KEY) is True:
            # Refused by the proxy (authentication, unknown model, budget, rate limit, guardrail):
            # no LLM call was made, so no attempt span claims one.
            self.telemetry.record_proxy_refusal(record)
            return
        observe_loop_once(live, record, config)
        if live is not None:
            finish(live, record)
            return
        self.telemetry.emit(record)
