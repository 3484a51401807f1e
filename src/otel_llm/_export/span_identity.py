"""A span decided now and made later, possibly in another process (``OTEL_LLM_PROXY_EMITTER=process``):
``SpanIdentity`` carries what propagation and child spans read (its context) and what makes the span
(``LeanTracer.span_of``), and pickles as plain numbers.
"""

from __future__ import annotations

from typing import Any, Final

from opentelemetry import trace as trace_api
from opentelemetry.trace import SpanKind
from opentelemetry.util import types

# Every value of the 8-bit flags, made once: a span shares one (the SDK makes one per span, an
# object that lives as long as the span and is promoted with it).
TRACE_FLAGS: Final = tuple(trace_api.TraceFlags(value) for value in range(256))


class SpanIdentity(trace_api.NonRecordingSpan):
    """A span decided but not made yet: its context (what propagation and child spans read) and
    what makes the span later (``LeanTracer.span_of``), all plain values, so it can be pickled to
    the process that makes it. Records nothing itself (``is_recording`` is False)."""

    is_identity: Final = True  # what Telemetry.emit_here looks for (the emit layer does not import this one)

    def __init__(
        self,
        context: trace_api.SpanContext,
        name: str,
        kind: SpanKind,
        parent: trace_api.SpanContext | None,
        start_time: int,
        attributes: dict[str, types.AnyValue],
    ) -> None:
        super().__init__(context)
        self.name = name
        self.kind = kind
        self.parent = parent
        self.start_time = start_time
        self.attributes = attributes

    def __reduce__(self) -> tuple[Any, ...]:
        # The span contexts as plain numbers (pickling a SpanContext, its flags and trace state as
        # objects costs more than the whole record it travels with).
        context, parent = _context_values(self._context), _context_values(self.parent)
        return (_identity_from, (context, self.name, self.kind.value, parent, self.start_time, self.attributes))


def _context_values(context: trace_api.SpanContext | None) -> tuple[Any, ...] | None:
    if context is None:
        return None
    state = context.trace_state
    return (
        context.trace_id,
        context.span_id,
        int(context.trace_flags),
        tuple(state.items()) if state else None,
        context.is_remote,
    )


def _context_from(values: tuple[Any, ...] | None) -> trace_api.SpanContext | None:
    if values is None:
        return None
    trace_id, span_id, flags, state, remote = values
    return trace_api.SpanContext(
        trace_id,
        span_id,
        is_remote=remote,
        trace_flags=TRACE_FLAGS[flags],
        trace_state=trace_api.TraceState(state) if state else None,
    )


def _identity_from(
    context: tuple[Any, ...],
    name: str,
    kind: int,
    parent: tuple[Any, ...] | None,
    start_time: int,
    attributes: dict[str, types.AnyValue],
) -> SpanIdentity:
    span_context = _context_from(context)
    assert span_context is not None  # an identity always has one
    return SpanIdentity(span_context, name, SpanKind(kind), _context_from(parent), start_time, attributes)
