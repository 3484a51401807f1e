"""Opt-in content as the conventions' ``gen_ai.client.inference.operation.details`` event."""

from __future__ import annotations

import json

from opentelemetry import trace
from opentelemetry._logs import Logger

from .. import _names as n
from .._record import InvocationRecord
from .attributes import span_attributes

_EVENT_PREFIXES = ("gen_ai.", "server.", "error.")


class ContentEventEmitter:
    """Emits one log event with the messages of a call, correlated to its span."""

    def __init__(self, logger: Logger) -> None:
        self._logger = logger

    def emit(self, record: InvocationRecord, span: trace.Span | None) -> None:
        content = record.content
        if content is None:
            return
        # The span's conventions attributes (operation, provider, request, response, usage,
        # server, error.type), so the event stands alone; not otel-llm's own.
        attributes: dict[str, object] = {
            key: value for key, value in span_attributes(record).items() if key.startswith(_EVENT_PREFIXES)
        }
        # The conventions: content "MUST be recorded in structured form" on events (it is a JSON
        # string only on spans). The capped JSON is always valid, so parsing it keeps the cap.
        for key, value in (
            (n.GEN_AI_INPUT_MESSAGES, content.input_messages),
            (n.GEN_AI_OUTPUT_MESSAGES, content.output_messages),
        ):
            if value:
                attributes[key] = json.loads(value)
        context = trace.set_span_in_context(span) if span is not None else None
        self._logger.emit(
            timestamp=record.end_ns,
            context=context,
            attributes=attributes,  # type: ignore[arg-type]  # AnyValue: nested lists and maps
            event_name=n.GEN_AI_INFERENCE_DETAILS_EVENT,
        )
