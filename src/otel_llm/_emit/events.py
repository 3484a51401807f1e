"""Opt-in content as the conventions' ``gen_ai.client.inference.operation.details`` event."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry._logs import Logger

from .. import _names as n
from .._record import InvocationRecord
from .attributes import AttributeValue


class ContentEventEmitter:
    """Emits one log event with the messages of a call, correlated to its span."""

    def __init__(self, logger: Logger) -> None:
        self._logger = logger

    def emit(self, record: InvocationRecord, span: trace.Span | None) -> None:
        content = record.content
        if content is None:
            return
        attributes: dict[str, AttributeValue] = {n.GEN_AI_OPERATION_NAME: record.operation}
        if record.provider:
            attributes[n.GEN_AI_PROVIDER_NAME] = record.provider
        if record.request_model:
            attributes[n.GEN_AI_REQUEST_MODEL] = record.request_model
        if record.response_model:
            attributes[n.GEN_AI_RESPONSE_MODEL] = record.response_model
        if record.response_id:
            attributes[n.GEN_AI_RESPONSE_ID] = record.response_id
        if content.input_messages:
            attributes[n.GEN_AI_INPUT_MESSAGES] = content.input_messages
        if content.output_messages:
            attributes[n.GEN_AI_OUTPUT_MESSAGES] = content.output_messages
        if content.system_instructions:
            attributes[n.GEN_AI_SYSTEM_INSTRUCTIONS] = content.system_instructions
        context = trace.set_span_in_context(span) if span is not None else None
        self._logger.emit(
            timestamp=record.end_ns,
            context=context,
            attributes=attributes,
            event_name=n.GEN_AI_INFERENCE_DETAILS_EVENT,
        )
