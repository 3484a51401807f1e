"""Records → GenAI attempt spans (completing a live span, or a backdated one)."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from .. import _names as n
from .._config import Config
from .._record import InvocationRecord, LoopDetection, RouteStep
from .attributes import AttributeValue, span_attributes, span_name


def route_event(step: RouteStep) -> tuple[str, dict[str, AttributeValue]]:
    """The span event (name, attributes) that explains a retry or fallback."""
    attrs: dict[str, AttributeValue] = {}
    if step.kind == "retry":
        if step.to_model_group:
            attrs[n.RETRY_MODEL_GROUP] = step.to_model_group
        attrs[n.ATTEMPT_RETRY_INDEX] = step.retry_index
        name = n.EVENT_RETRY
    else:
        if step.from_model_group:
            attrs[n.FALLBACK_FROM] = step.from_model_group
        if step.to_model_group:
            attrs[n.FALLBACK_TO] = step.to_model_group
        name = n.EVENT_FALLBACK
    if step.error_type:
        attrs[n.ERROR_TYPE] = step.error_type
    return name, attrs


def loop_event_attributes(loop: LoopDetection) -> dict[str, AttributeValue]:
    """The reason and the window's figures of a loop detection."""
    return {
        n.LOOP_REASON: loop.reason,
        n.LOOP_ACTION: loop.action,
        n.LOOP_WINDOW_CALLS: loop.window_calls,
        n.LOOP_REPEATS: loop.repeats,
        n.LOOP_CALLS_LAST_MINUTE: loop.calls_last_minute,
        n.LOOP_SPEND_PER_MINUTE: loop.spend_per_minute,
        n.LOOP_INPUT_GROWTH: loop.input_growth,
        n.LOOP_COOLDOWN_SECONDS: loop.cooldown_seconds,
    }


class SpanEmitter:
    """Writes one CLIENT span per attempt."""

    def __init__(self, tracer: Tracer, config: Config) -> None:
        self._tracer = tracer
        self._content_on_spans = config.content_mode.on_spans

    def emit(
        self,
        record: InvocationRecord,
        live_span: Span | None = None,
        attributes: dict[str, AttributeValue] | None = None,
    ) -> Span:
        """Complete (or write) the attempt span; returns it, for exemplars and events. ``attributes``:
        the record's span attributes when the caller built them already (never changed here)."""
        name = span_name(record.operation, record.request_model)
        content = record.content if self._content_on_spans else None
        if attributes is None:
            attributes = span_attributes(record)
        elif content is not None:  # the caller's are not for the messages (every span keeps its own copy)
            attributes = dict(attributes)
        if content is not None:
            if content.input_messages:
                attributes[n.GEN_AI_INPUT_MESSAGES] = content.input_messages
            if content.output_messages:
                attributes[n.GEN_AI_OUTPUT_MESSAGES] = content.output_messages
        if live_span is not None:
            span = live_span
            span.update_name(name)
            span.set_attributes(attributes)
        else:
            span = self._tracer.start_span(
                name,
                context=context_when_detached(record.parent_carrier),
                kind=SpanKind.CLIENT,
                attributes=attributes,
                start_time=record.start_ns,
            )
        if record.route_step is not None:
            event_name, event_attrs = route_event(record.route_step)
            span.add_event(event_name, event_attrs, timestamp=record.start_ns)
        if record.loop is not None:
            span.add_event(n.EVENT_LOOP_DETECTED, loop_event_attributes(record.loop), timestamp=record.end_ns)
        if record.failed:
            span.set_status(Status(StatusCode.ERROR, record.error_message or record.error_type))
        span.end(end_time=record.end_ns)
        return span


def context_when_detached(carrier: Mapping[str, str] | None) -> Context | None:
    """A parent context from ``carrier``, only when no span is current (else None: use current)."""
    if not carrier or trace.get_current_span().get_span_context().is_valid:
        return None
    return propagate.extract(dict(carrier))
