"""The emit side as one object: tracer, instruments and emitters for one set of providers.

Each emitter is isolated: one failing is reported through the internal-error boundary
and does not stop the others, nor reach the host call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, Protocol

from opentelemetry import context, metrics, trace
from opentelemetry._logs import LoggerProvider, get_logger
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider, get_meter
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)

from .. import _errors
from .. import _names as n
from .._config import Config
from .._record import Attribution, InvocationRecord, RouterOutcome, RouteStep
from .._version import __version__
from .attributes import AttributeValue, span_attributes, span_name
from .build_info import register_build_info
from .cardinality import CardinalityLimiter
from .events import ContentEventEmitter
from .headroom import HeadroomEmitter
from .hops import HopEmitter
from .instruments import AttrSet, Instruments, observe_gauges
from .metrics import MetricEmitter, loop_attributes, refusal_attributes
from .spans import SpanEmitter, context_when_detached, route_event
from .store import MetricStore
from .usage import UsageRecordEmitter

SCOPE: Final = "otel_llm"
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.37.0"

# The error boundaries of every attempt's emitters, made once (a boundary keeps no state per use).
_SPANS: Final = _errors.boundary("emit.spans")
_METRICS: Final = _errors.boundary("emit.metrics")
_HEADROOM: Final = _errors.boundary("emit.headroom")
_USAGE: Final = _errors.boundary("emit.usage")


TracerWrapper = Callable[[object, Tracer], Tracer]


class Flushable(Protocol):
    def force_flush(self, timeout_millis: float = ...) -> bool: ...


class Handoff(Flushable, Protocol):
    """Where attempts go to be emitted by another process (``_export/emitter_process.py``)."""

    def submit(self, record: InvocationRecord, span: Span | None) -> bool: ...


class Telemetry:
    """Emitters bound to one tracer, meter and logger provider (the global ones by default)."""

    def __init__(
        self,
        config: Config,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        logger_provider: LoggerProvider | None = None,
        headroom_meter_provider: MeterProvider | None = None,
        metric_store: MetricStore | None = None,
        flush_too: Flushable | None = None,
        span_tracer: TracerWrapper | None = None,
    ) -> None:
        """``metric_store``: otel-llm's own aggregation, whose readers otel-llm built (the lean path);
        without one, metrics go through the SDK instruments of ``meter_provider``. ``span_tracer``:
        makes the tracer otel-llm's spans are started with from the provider and its tracer (the
        export layer's lean tracer, for a provider otel-llm built)."""
        self.config = config
        self._providers = (tracer_provider, meter_provider, logger_provider)
        self._headroom_provider = headroom_meter_provider
        self._flush_too = flush_too
        # The proxy sets this: a Router request then annotates the request's SERVER span
        # instead of opening a span of its own (OTEL_LLM_PROXY_ROUTER_SPAN).
        self.fold_router_into_server_span = False
        # OTEL_LLM_PROXY_EMITTER=process: attempts are emitted by a process beside the worker
        # (``_export/handoff.py``, ``_export/emitter_process.py``); the worker decides their spans' identities only.
        self.handoff: Handoff | None = None
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider, schema_url=SCHEMA_URL)
        if span_tracer is not None:
            self.tracer = span_tracer(tracer_provider or trace.get_tracer_provider(), self.tracer)
        meter = get_meter(SCOPE, __version__, meter_provider, schema_url=SCHEMA_URL)
        register_build_info(meter)
        self.lean = metric_store is not None
        if metric_store is None:
            store = MetricStore(config.metric_idle_timeout_s, config.metric_series_limit, config.headroom_ttl_s)
            idle_s = config.metric_idle_timeout_s
            self.instruments = Instruments(store, meter, config.metric_series_limit)
        else:
            store = metric_store
            self.instruments = Instruments(store)
            idle_s = store.idle_timeout_s  # at least the export interval
        self.metric_store = store
        # The limiter ages values on the store's clock: a value and its series expire together.
        self.limiter = CardinalityLimiter(
            config.metric_attribute_value_limit, idle_s, self.instruments.overflow, mono=store.mono
        )
        self._spans = SpanEmitter(self.tracer, config)
        self._metrics = MetricEmitter(self.instruments, self.limiter, config.metric_attribution, idle_s, store.mono)
        self.headroom = HeadroomEmitter(store, config.headroom_ttl_s)
        # The gateway's hops (MCP operations, guardrail evaluations, A2A calls): never LLM calls.
        self.hops = HopEmitter(self.tracer, self.instruments, self.limiter, config)
        if metric_store is None:
            headroom_meter = (
                get_meter(SCOPE, __version__, headroom_meter_provider, schema_url=SCHEMA_URL)
                if headroom_meter_provider is not None
                else meter
            )
            observe_gauges(headroom_meter, self.headroom.instruments)
        logger = get_logger(SCOPE, __version__, logger_provider, schema_url=SCHEMA_URL)
        self._events = ContentEventEmitter(logger) if config.content_mode.on_events else None
        self._usage = UsageRecordEmitter(logger, logger_provider is None) if config.usage_records else None
        # Counted once per destination, however many Telemetry objects write there.
        destination = metric_store if metric_store is not None else meter_provider or metrics.get_meter_provider()
        _errors.add_count_sink(self._count_internal_error, destination)

    def force_flush(self, timeout_ms: int) -> None:
        """Flush the providers this telemetry writes to (the global ones when none were given)."""
        from opentelemetry._logs import get_logger_provider  # noqa: PLC0415

        tracer_provider, meter_provider, logger_provider = self._providers
        if self.handoff is not None:
            self.handoff.force_flush(timeout_ms)
        for provider in (
            tracer_provider or trace.get_tracer_provider(),
            meter_provider or metrics.get_meter_provider(),
            logger_provider or get_logger_provider(),
            self._headroom_provider,
            self._flush_too,
        ):
            flush = getattr(provider, "force_flush", None)
            if callable(flush):
                flush(timeout_millis=timeout_ms)

    def close(self) -> None:
        _errors.remove_count_sink(self._count_internal_error)

    def _count_internal_error(self, component: str) -> None:
        self.instruments.internal_errors(1, AttrSet({n.INTERNAL_COMPONENT: component}))

    def count_internal_error(self, component: str) -> None:
        """Count a degradation that is not an exception (the emitter process fell back) as one."""
        with _errors.boundary("emit.metrics"):
            self._count_internal_error(component)

    # --- attempts -------------------------------------------------------------------
    def start_attempt_span(self, operation: str, model: str | None, start_ns: int, parent: Context | None) -> Span:
        """A live CLIENT span, started before LiteLLM runs, that a record completes later; under
        ``parent`` (the caller's context, or one extracted from the request's headers). With an
        emitter process, only its identity: the span is made where the record is emitted."""
        attributes = {n.GEN_AI_OPERATION_NAME: operation}
        if self.handoff is not None:  # set only over a tracer that decides identities (the lean tracer)
            start_identity = self.tracer.start_identity  # type: ignore[attr-defined]
            return start_identity(span_name(operation, model), parent, SpanKind.CLIENT, attributes, start_ns)  # type: ignore[no-any-return]
        return self.tracer.start_span(
            span_name(operation, model),
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=start_ns,
        )

    def emit(self, record: InvocationRecord, live_span: Span | None = None) -> None:
        """Emit every signal of one finished attempt; never raises (unless strict). With an
        emitter process, hands the attempt over to it (or emits here when it cannot take it)."""
        handoff = self.handoff
        if handoff is not None and handoff.submit(record, live_span):
            return
        self.emit_here(record, live_span)

    def emit_here(
        self, record: InvocationRecord, live_span: Span | None = None, parent: SpanContext | None = None
    ) -> None:
        """``emit`` in this process. ``live_span`` may be a ``SpanIdentity`` (made into the span here);
        ``parent``: the span current where a record without a live span was reported (another process)."""
        if getattr(live_span, "is_identity", False):  # decided in the worker, made here
            with _SPANS:
                live_span = self.tracer.span_of(live_span)  # type: ignore[attr-defined]
        if parent is not None:
            token = context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
            try:
                self._emit(record, live_span)
            finally:
                context.detach(token)
            return
        self._emit(record, live_span)

    def _emit(self, record: InvocationRecord, live_span: Span | None) -> None:
        span = live_span
        attributes: dict[str, AttributeValue] | None = None
        with _SPANS:
            # Built once, for the span and the usage record.
            attributes = span_attributes(record)
            span = self._spans.emit(record, live_span, attributes)
        with _METRICS:
            # In the span's context, so histograms carry exemplars that link to the trace.
            self._metrics.emit(record, trace.set_span_in_context(span) if span is not None else None)
        with _HEADROOM:
            self.headroom.emit(record)
        if self._usage is not None:
            with _USAGE:
                self._usage.emit(record, span, attributes)
        if self._events is not None and record.content is not None:
            with _errors.boundary("emit.events"):
                self._events.emit(record, live_span)

    def record_loop_refusal(
        self, reason: str, who: Attribution, model_group: str | None = None, tool: str | None = None
    ) -> None:
        """Count a call the loop guard refused (``who`` calling ``model_group``, or ``tool``), and mark
        the current span (if any)."""
        with _errors.boundary("emit.loop"):
            subject = (n.GEN_AI_TOOL_NAME, tool) if tool else (n.MODEL_GROUP, model_group)
            attrs = loop_attributes(who, reason, "blocked", subject)
            self.instruments.loop_refusals(1, AttrSet(self.limiter.limit(attrs, n.LOOP_REFUSALS_METRIC)))
            current = trace.get_current_span()
            if current.is_recording():
                current.add_event(n.EVENT_LOOP_REFUSED, {n.LOOP_REASON: reason})

    def record_proxy_refusal(self, record: InvocationRecord) -> None:
        """Count a request the proxy refused before any provider call: no attempt span and no
        GenAI operation point, since no LLM operation took place."""
        with _errors.boundary("emit.metrics"):
            attrs = refusal_attributes(record, self.config.metric_attribution)
            self.instruments.proxy_refusals(1, AttrSet(self.limiter.limit(attrs, n.PROXY_REFUSALS_METRIC)))

    # --- router requests ------------------------------------------------------------
    def start_router_span(
        self, operation: str, model_group: str | None, parent_carrier: Mapping[str, str] | None = None
    ) -> Span:
        """The parent span of one logical Router request (its attempts are children)."""
        attrs: dict[str, AttributeValue] = {n.GEN_AI_OPERATION_NAME: operation}
        if model_group:
            attrs[n.GEN_AI_REQUEST_MODEL] = model_group
            attrs[n.MODEL_GROUP] = model_group
        return self.tracer.start_span(
            span_name(operation, model_group),
            context=context_when_detached(parent_carrier),
            kind=SpanKind.INTERNAL,
            attributes=attrs,
        )

    @staticmethod
    def fold_router_request(server_span: Span, model_group: str | None) -> None:
        """Mark the proxy's SERVER span as the parent of a Router request's attempts."""
        if model_group:
            server_span.set_attribute(n.MODEL_GROUP, model_group)

    @staticmethod
    def note_route_step(router_span: Span, step: RouteStep) -> None:
        name, attrs = route_event(step)
        router_span.add_event(name, attrs)

    @staticmethod
    def finish_router_span(router_span: Span, outcome: RouterOutcome, *, owned: bool = True) -> None:
        """Write the Router request's outcome on its span and end it; on a SERVER span it was
        folded into (``owned=False``) only the counts and the served group: the status, the
        error and the end are the HTTP request's, set by its own instrumentation."""
        attrs: dict[str, AttributeValue] = {
            n.ROUTER_ATTEMPTS: outcome.attempts,
            n.ROUTER_RETRIES: outcome.retries,
            n.ROUTER_FALLBACKS: outcome.fallbacks,
        }
        if outcome.served_model_group:
            attrs[n.ROUTER_FINAL_MODEL_GROUP] = outcome.served_model_group
        if not owned:
            if router_span.is_recording():  # a span that ended first would warn on every set
                router_span.set_attributes(attrs)
            return
        if outcome.error_type:
            attrs[n.ERROR_TYPE] = outcome.error_type
            router_span.set_status(Status(StatusCode.ERROR, outcome.error_message or outcome.error_type))
        router_span.set_attributes(attrs)
        router_span.end()
