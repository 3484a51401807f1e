"""Lean spans: otel-llm's own spans as SDK spans without the SDK's per-attribute machinery.

An SDK span costs ~40 µs with 20 attributes in the proxy: every attribute goes through
``BoundedAttributes`` (a lock, a type check, a cleaning pass) and ``end()`` copies the span
into a fresh ``ReadableSpan`` for the processors. otel-llm's attempt and request spans carry
attributes it built itself (strings, numbers, booleans, string tuples, already capped), so
its tracer makes ``LeanSpan``s: a subclass of the SDK's ``Span`` (processors see what they
always see) whose attributes live in a plain dict, set with the SDK's exact rules (the same
cleaning for any unusual value, truncation to the span limits, re-set keys moved to the end,
the oldest dropped when full), and which hands *itself* to the processors when it ends.
Everything else is the provider's: its sampler, id generator, resource, span limits, span
processors and self-metrics, so URL redaction, the batch processor and every exporter keep
working. tests/test_lean_spans.py proves the OTLP bytes equal the SDK path's.

Only where otel-llm built the provider, and only while every span processor on it is one
known to take any ``ReadableSpan`` (the SDK's batch and simple processors, otel-llm's URL
redaction); otherwise the SDK's own spans, unchanged.
"""

from __future__ import annotations

import logging
import threading
import typing
from collections.abc import Iterator, Mapping, Sequence
from time import time_ns
from typing import Any, Final

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util import types
from opentelemetry.util._decorator import _agnosticcontextmanager

from . import sdk_internals
from .span_identity import TRACE_FLAGS as _TRACE_FLAGS
from .span_identity import SpanIdentity
from .span_queue import WireSpanProcessor
from .url_redaction import UrlRedactingSpanProcessor

_log: Final = logging.getLogger("otel_llm")
# Processors known to handle any ReadableSpan they are given, and only read it.
KNOWN_PROCESSORS: Final = (BatchSpanProcessor, SimpleSpanProcessor, UrlRedactingSpanProcessor, WireSpanProcessor)
_PLAIN: Final = frozenset({bool, int, float, bytes, type(None)})
_UNSET: Final = Status(StatusCode.UNSET)
# A span's events or links before the first is added: what the SDK's properties read as none
# (``tuple()`` of it is empty, and it is not a BoundedList, so nothing was dropped).
_NONE_YET: Final = ()
_RECORD_AND_SAMPLE: Final = Decision.RECORD_AND_SAMPLE


class _TracerParts(typing.NamedTuple):
    """What every lean span of one SDK tracer takes from it: the parts fixed when the tracer is made
    (its resource is not: the SDK renews it in a forked child, so spans read it from the tracer)."""

    tracer: SdkTracer
    identity: tuple[Any, Any]  # instrumentation info, instrumentation scope
    sampler: Any
    span_processor: Any
    limits: Any

    @classmethod
    def of(cls, tracer: SdkTracer) -> _TracerParts:
        identity = (tracer.instrumentation_info, sdk_internals.tracer_scope(tracer))
        return cls(tracer, identity, tracer.sampler, tracer.span_processor, sdk_internals.tracer_limits(tracer))


class LeanSpan(SdkSpan):
    """An SDK span whose attributes are a plain dict set with the SDK's rules, ended without a copy."""

    def __init__(  # the SDK span's own fields
        self,
        name: str,
        context: trace_api.SpanContext,
        parent: trace_api.SpanContext | None,
        parts: _TracerParts,
        kind: SpanKind,
        links: Sequence[Link],
        record_end_metrics: typing.Callable[[], None] | None,
    ) -> None:
        # Not SdkSpan.__init__: its BoundedAttributes is what this span does without, and its
        # events and links lists (a deque and a lock each) are made when the first one is added.
        self._name = name
        self._context = context
        self._kind = kind
        self._instrumentation_info, self._instrumentation_scope = parts.identity
        self._resource = parts.tracer.resource  # not fixed: the SDK gives a forked child a new service.instance.id
        self._parent = parent
        self._start_time: int | None = None
        self._end_time: int | None = None
        self._status = _UNSET  # immutable: set_status replaces it
        self._sampler = parts.sampler
        self._trace_config = None
        self._record_exception = True
        self._set_status_on_exception = True
        self._span_processor = parts.span_processor
        limits = parts.limits
        self._limits = limits
        self._lock = threading.Lock()
        self._attributes: dict[str, types.AnyValue] = {}
        self._max_attributes: int | None = limits.max_span_attributes
        self._max_length: int | None = limits.max_span_attribute_length
        self._dropped_attributes = 0
        self._events: Any = _NONE_YET
        self._links: Any = self._new_links(links) if links else _NONE_YET
        self._record_end_metrics = record_end_metrics

    def _add_event(self, event: Any) -> None:
        """As the SDK span's (only while not ended), making the events list on the first one."""
        with self._lock:
            ended = self._end_time is not None
            if not ended:
                if self._events is _NONE_YET:
                    self._events = self._new_events()  # type: ignore[no-untyped-call]  # the SDK's own, untyped
                self._events.append(event)
        if ended:
            _log.debug("otel-llm: event added to an ended span dropped")

    def _add_link(self, link: Link) -> None:
        """As the SDK span's (only while not ended), making the links list on the first one."""
        with self._lock:
            ended = self._end_time is not None
            if not ended:
                if self._links is _NONE_YET:
                    self._links = self._new_links(())
                self._links.append(link)
        if ended:
            _log.debug("otel-llm: link added to an ended span dropped")

    @property
    def dropped_attributes(self) -> int:
        return self._dropped_attributes

    def _set(self, key: str, value: types.AnyValue) -> None:
        """One attribute, as BoundedAttributes would store it (caller holds the lock)."""
        maxlen = self._max_attributes
        if maxlen == 0 or not key or key.__class__ is not str:
            if maxlen != 0:
                _log.debug("otel-llm: invalid attribute key %r dropped", key)
            self._dropped_attributes += 1
            return
        cls = value.__class__
        if cls is str:
            limit = self._max_length
            if limit is not None and len(value) > limit:  # type: ignore[arg-type]
                value = value[:limit]  # type: ignore[index]
        elif cls not in _PLAIN:
            value = sdk_internals.clean_attribute_value(value, self._max_length)
        attributes = self._attributes
        if key in attributes:
            del attributes[key]
        elif maxlen is not None and len(attributes) >= maxlen:
            del attributes[next(iter(attributes))]
            self._dropped_attributes += 1
        attributes[key] = value

    def _set_many(self, attributes: Mapping[str, types.AnyValue]) -> None:
        """Several attributes, as ``_set`` would store them one by one (caller holds the lock)."""
        own = self._attributes
        room = self._max_attributes
        if room is not None and len(own) + len(attributes) > room:
            for key, value in attributes.items():
                self._set(key, value)
            return
        # Room for them all (otel-llm's own spans, always): _set's rules written out for the
        # common values, strings and plain numbers; any other key or value takes _set.
        limit = self._max_length
        for key, value in attributes.items():
            cls = value.__class__
            if not key or key.__class__ is not str or (cls is not str and cls not in _PLAIN):
                self._set(key, value)
                continue
            if key in own:
                del own[key]
            if cls is str and limit is not None and len(value) > limit:  # type: ignore[arg-type]
                own[key] = value[:limit]  # type: ignore[index]
            else:
                own[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        with self._lock:
            if self._end_time is not None:
                _log.debug("otel-llm: attributes set on an ended span dropped")
                return
            self._set_many(attributes)

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        with self._lock:
            if self._end_time is not None:
                _log.debug("otel-llm: attribute set on an ended span dropped")
                return
            self._set(key, value)

    def end(self, end_time: int | None = None) -> None:
        with self._lock:
            if self._start_time is None:
                raise RuntimeError("Calling end() on a not started span.")
            if self._end_time is not None:
                _log.debug("otel-llm: end() on an ended span ignored")
                return
            self._end_time = end_time if end_time is not None else time_ns()
        if self._record_end_metrics:
            self._record_end_metrics()
        processor: Any = self._span_processor
        processor._on_ending(self)  # noqa: SLF001  # the SDK span's own hook for its processors
        # The span itself, not a copy: once ended, nothing changes it.
        processor.on_end(self)


class LeanTracer(trace_api.Tracer):
    """Starts ``LeanSpan``s as the SDK tracer it wraps would start its spans: same sampling, ids,
    resource, limits, processors and self-metrics."""

    def __init__(self, sdk_tracer: SdkTracer, provider: TracerProvider | None = None) -> None:
        self._tracer = sdk_tracer
        self._parts = _TracerParts.of(sdk_tracer)
        self._provider = provider
        self._known = sdk_internals.span_processors(provider) if provider is not None else None

    def _processors_known(self) -> bool:
        """Still only processors that take any ReadableSpan (one added later sends spans to the SDK)."""
        if self._provider is None:
            return True
        current = sdk_internals.span_processors(self._provider)
        if current is self._known:
            return True
        if current is None or not all(type(p) in KNOWN_PROCESSORS for p in current):
            return False
        self._known = current
        return True

    def _decide(
        self,
        name: str,
        context: context_api.Context | None,
        kind: SpanKind,
        attributes: types.Attributes,
        links: Sequence[Link],
    ) -> tuple[trace_api.SpanContext, trace_api.SpanContext | None, Any, types.Attributes]:
        """A new span's identity as the SDK tracer would decide it: (its span context, its parent's,
        the sampling decision, the sampler's attributes)."""
        tracer = self._tracer
        current = trace_api.get_current_span(context).get_span_context()
        parent: trace_api.SpanContext | None = current if current is not None and current.is_valid else None
        trace_id = tracer.id_generator.generate_trace_id() if parent is None else parent.trace_id
        result = tracer.sampler.should_sample(context, trace_id, name, kind, attributes, links)
        decision: Any = result.decision
        flags = trace_api.TraceFlags.SAMPLED if decision.is_sampled() else trace_api.TraceFlags.DEFAULT
        random = tracer.id_generator.is_trace_id_random() if parent is None else parent.trace_flags.random_trace_id
        if random:
            flags |= trace_api.TraceFlags.RANDOM_TRACE_ID
        span_context = trace_api.SpanContext(
            trace_id,
            tracer.id_generator.generate_span_id(),
            is_remote=False,
            trace_flags=_TRACE_FLAGS[flags],
            trace_state=result.trace_state,
        )
        return span_context, parent, decision, result.attributes

    def start_span(  # the API's signature
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace_api.Span:
        tracer = self._tracer
        if not self._processors_known():
            return tracer.start_span(
                name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
            )
        links = links or ()
        if not sdk_internals.tracer_enabled(tracer):
            return trace_api.NonRecordingSpan(context=trace_api.get_current_span(context).get_span_context())
        span_context, parent, decision, sampler_attributes = self._decide(name, context, kind, attributes, links)
        end_metrics = sdk_internals.tracer_start_metrics(tracer, parent, decision)
        if not decision.is_recording():
            return trace_api.NonRecordingSpan(context=span_context)
        span = LeanSpan(name, span_context, parent, self._parts, kind, links, end_metrics)
        if sampler_attributes:
            with span._lock:  # noqa: SLF001  # the span is not shared yet
                span._set_many(sampler_attributes)  # noqa: SLF001
        span._record_exception = record_exception  # noqa: SLF001
        span._set_status_on_exception = set_status_on_exception  # noqa: SLF001
        span.start(start_time=start_time, parent_context=context)
        return span

    def start_identity(
        self,
        name: str,
        context: context_api.Context | None,
        kind: SpanKind,
        attributes: types.Attributes,
        start_time: int,
    ) -> trace_api.Span:
        """A span decided now (sampled, its ids from the provider) and made later, possibly in another
        process (``span_of``): a ``SpanIdentity`` for propagation and children meanwhile. A span the
        sampler does not record is a plain non-recording span, as ``start_span`` gives."""
        tracer = self._tracer
        if not sdk_internals.tracer_enabled(tracer):
            return trace_api.NonRecordingSpan(context=trace_api.get_current_span(context).get_span_context())
        span_context, parent, decision, sampler_attributes = self._decide(name, context, kind, attributes, ())
        if not decision.is_recording():
            return trace_api.NonRecordingSpan(context=span_context)
        attrs = dict(attributes or {})
        if sampler_attributes:
            attrs.update(sampler_attributes)
        return SpanIdentity(span_context, name, kind, parent, start_time, attrs)

    def span_of(self, identity: SpanIdentity) -> trace_api.Span:
        """The span ``identity`` decided, made now (started at its start time, not ended): the same ids,
        parent and sampling, through this tracer's processors."""
        tracer = self._tracer
        parent = identity.parent
        parent_context = trace_api.set_span_in_context(trace_api.NonRecordingSpan(parent)) if parent else None
        if not self._processors_known():  # the SDK's span: its own ids (the identity's are lost, said in the docs)
            return tracer.start_span(
                identity.name, parent_context, identity.kind, identity.attributes, start_time=identity.start_time
            )
        end_metrics = sdk_internals.tracer_start_metrics(tracer, parent, _RECORD_AND_SAMPLE)
        span = LeanSpan(identity.name, identity.get_span_context(), parent, self._parts, identity.kind, (), end_metrics)
        if identity.attributes:
            with span._lock:  # noqa: SLF001  # the span is not shared yet
                span._set_many(identity.attributes)  # noqa: SLF001
        span.start(start_time=identity.start_time, parent_context=parent_context)
        return span

    @_agnosticcontextmanager
    def start_as_current_span(  # the API's signature
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace_api.Span]:
        span = self.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )
        with trace_api.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


def lean_tracer(provider: object, sdk_tracer: trace_api.Tracer) -> trace_api.Tracer:
    """``LeanTracer`` over ``sdk_tracer`` when ``provider`` is an SDK provider whose span processors all
    take any ReadableSpan and the SDK parts it relies on are there; ``sdk_tracer`` itself otherwise."""
    if not isinstance(provider, TracerProvider) or not isinstance(sdk_tracer, SdkTracer):
        return sdk_tracer
    processors = sdk_internals.span_processors(provider)
    if processors is None or not all(type(p) in KNOWN_PROCESSORS for p in processors):
        return sdk_tracer
    if sdk_internals.lean_span_parts_missing(sdk_tracer):
        return sdk_tracer
    return LeanTracer(sdk_tracer, provider)
