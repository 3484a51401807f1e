"""Lean spans against the SDK's: the same operations give byte-identical OTLP spans.

Two providers, the same resource, span limits, sampler, a deterministic id generator and the same
processors (otel-llm's URL redaction, then a simple processor into memory): one hands out the SDK's
spans, the other's tracer is wrapped in ``LeanTracer``. Every sequence of span operations (attributes
set and set again, odd value types, limits, events, status, renames, parents, unsampled parents,
links given at the start and added later, events and links past their limits, events and
links added after the end, explicit and implicit times) must encode to the same bytes with the SDK's OTLP encoder.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_llm._export import span_wire
from otel_llm._export.lean_spans import LeanSpan, LeanTracer, lean_tracer
from otel_llm._export.url_redaction import UrlRedactingSpanProcessor


class Sequential(IdGenerator):
    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def generate_span_id(self) -> int:
        return next(self._ids)

    def generate_trace_id(self) -> int:
        return (1 << 100) + next(self._ids)


def _pipeline(limits: SpanLimits, sampler: Any) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource({"service.name": "lean-test"}),
        id_generator=Sequential(),
        span_limits=limits,
        sampler=sampler,
    )
    provider.add_span_processor(UrlRedactingSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


class Custom:
    def __str__(self) -> str:
        return "custom"


VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(-(2**62), 2**62),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.text(max_size=8), max_size=4),
    st.tuples(st.text(max_size=8), st.text(max_size=8)),
    st.just(None),
    st.just(Custom()),
    st.just("https://user:secret@host/path?key=sk-1234567890abcdef&x=1"),
)
KEYS = st.sampled_from(["a", "b", "c", "d", "gen_ai.operation.name", "url.full", "http.url", "e", ""])
OPERATION = st.one_of(
    st.tuples(st.just("set"), KEYS, VALUES),
    st.tuples(st.just("set_many"), st.dictionaries(KEYS, VALUES, max_size=6), st.just(None)),
    st.tuples(st.just("event"), st.sampled_from(["otel_llm.retry", "x"]), st.dictionaries(KEYS, VALUES, max_size=3)),
    st.tuples(st.just("status"), st.sampled_from(["error", "ok", "unset"]), st.text(max_size=10)),
    st.tuples(st.just("rename"), st.text(min_size=1, max_size=10), st.just(None)),
    st.tuples(st.just("link"), st.integers(1, 2**64 - 1), st.dictionaries(KEYS, VALUES, max_size=3)),
)
SPANS = st.lists(
    st.tuples(
        st.sampled_from([SpanKind.CLIENT, SpanKind.SERVER, SpanKind.INTERNAL]),
        st.dictionaries(KEYS, VALUES, max_size=5),
        st.lists(OPERATION, max_size=8),
        st.booleans(),  # a child of the previous span
        st.lists(st.integers(1, 2**64 - 1), max_size=3),  # links given at the start
    ),
    min_size=1,
    max_size=4,
)
LIMITS = st.sampled_from(
    [
        SpanLimits(),
        SpanLimits(max_span_attributes=3),
        SpanLimits(max_span_attribute_length=5),
        SpanLimits(max_events=1, max_links=1, max_event_attributes=1, max_link_attributes=1),
    ]
)


def _link_context(span_id: int) -> trace.SpanContext:
    return trace.SpanContext((1 << 90) + span_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(1))


SAMPLERS = st.sampled_from([ALWAYS_ON, ParentBased(TraceIdRatioBased(0.5))])


def _run(tracer: trace.Tracer, spans: list[Any]) -> None:
    previous = None
    for index, (kind, attributes, operations, child, links) in enumerate(spans):
        context = trace.set_span_in_context(previous) if child and previous is not None else None
        span = tracer.start_span(
            f"span {index}",
            context=context,
            kind=kind,
            attributes=attributes,
            links=[trace.Link(_link_context(link), {"link.index": position}) for position, link in enumerate(links)],
            start_time=100 + index,
        )
        for operation, first, second in operations:
            if operation == "set":
                span.set_attribute(first, second)
            elif operation == "set_many":
                span.set_attributes(first)
            elif operation == "event":
                span.add_event(first, second, timestamp=150)
            elif operation == "link":
                span.add_link(_link_context(first), second)
            elif operation == "status":
                code = {"error": StatusCode.ERROR, "ok": StatusCode.OK, "unset": StatusCode.UNSET}[first]
                span.set_status(Status(code, second if code is StatusCode.ERROR else None))
            else:
                span.update_name(first)
        span.end(end_time=200 + index)
        span.set_attribute("after", "end")  # ignored by both
        span.add_event("after end")
        span.add_link(_link_context(7))
        previous = span


@settings(max_examples=200, deadline=None)
@given(spans=SPANS, limits=LIMITS, sampler=SAMPLERS)
def test_lean_spans_encode_to_the_sdk_spans_bytes(spans: list[Any], limits: SpanLimits, sampler: Any) -> None:
    """Whatever is done to them, lean spans and SDK spans export the same OTLP bytes."""
    sdk_provider, sdk_exporter = _pipeline(limits, sampler)
    lean_provider, lean_exporter = _pipeline(limits, sampler)
    _run(sdk_provider.get_tracer("t", "1"), spans)
    _run(LeanTracer(lean_provider.get_tracer("t", "1")), spans)
    sdk_spans, lean_spans = sdk_exporter.get_finished_spans(), lean_exporter.get_finished_spans()
    assert len(lean_spans) == len(sdk_spans)
    assert encode_spans(lean_spans).SerializeToString() == encode_spans(sdk_spans).SerializeToString()
    assert all(isinstance(span, LeanSpan) for span in lean_spans)
    try:
        wire = span_wire.encode_spans(lean_spans)
    except span_wire.Unsupported:
        return  # a value only the SDK's encoder handles (the exporter then uses it)
    assert wire == encode_spans(sdk_spans).SerializeToString()


def test_lean_tracer_only_where_every_processor_is_known() -> None:
    """A provider with a processor otel-llm does not know keeps the SDK's spans."""
    provider, _ = _pipeline(SpanLimits(), ALWAYS_ON)
    assert isinstance(lean_tracer(provider, provider.get_tracer("t")), LeanTracer)
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    assert isinstance(lean_tracer(provider, provider.get_tracer("t")), LeanTracer)

    class Unknown(SimpleSpanProcessor):
        pass

    provider.add_span_processor(Unknown(InMemorySpanExporter()))
    sdk_tracer = provider.get_tracer("t")
    assert lean_tracer(provider, sdk_tracer) is sdk_tracer
    assert lean_tracer(trace.NoOpTracerProvider(), sdk_tracer) is sdk_tracer


def test_a_lean_span_is_current_and_parents_the_next() -> None:
    """start_as_current_span makes the lean span current; a span started inside is its child."""
    provider, exporter = _pipeline(SpanLimits(), ALWAYS_ON)
    tracer = LeanTracer(provider.get_tracer("t"))
    with tracer.start_as_current_span("outer") as outer:
        inner = tracer.start_span("inner")
        inner.end()
    child, parent = exporter.get_finished_spans()
    assert child.parent is not None and child.parent.span_id == outer.get_span_context().span_id
    assert parent.name == "outer" and parent.end_time is not None


@pytest.mark.parametrize("raises", [False, True])
def test_an_exception_in_a_current_lean_span_is_recorded(raises: bool) -> None:
    """As the SDK does: the exception becomes an event and an error status."""
    provider, exporter = _pipeline(SpanLimits(), ALWAYS_ON)
    tracer = LeanTracer(provider.get_tracer("t"))
    with pytest.raises(ValueError) if raises else _nothing(), tracer.start_as_current_span("work"):
        if raises:
            raise ValueError("boom")
    (span,) = exporter.get_finished_spans()
    assert (span.status.status_code is StatusCode.ERROR) is raises
    assert bool(span.events) is raises


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def test_a_processor_added_later_gets_the_sdks_spans() -> None:
    """Known processors when the tracer was made, an unknown one added since: spans are the SDK's again."""
    provider, _ = _pipeline(SpanLimits(), ALWAYS_ON)
    tracer = lean_tracer(provider, provider.get_tracer("t"))
    assert isinstance(tracer.start_span("lean"), LeanSpan)

    class Unknown(SimpleSpanProcessor):
        pass

    provider.add_span_processor(Unknown(InMemorySpanExporter()))
    span = tracer.start_span("sdk")
    assert not isinstance(span, LeanSpan) and span.is_recording()


def test_lean_spans_take_the_resource_the_sdk_renews_in_a_forked_child() -> None:
    """The SDK gives a forked child's tracers a new ``service.instance.id``: lean spans started after
    it carry the new resource, as the SDK's spans do (a forked proxy worker is its own instance)."""
    provider, exporter = _pipeline(SpanLimits(), ALWAYS_ON)
    tracer = LeanTracer(provider.get_tracer("t", "1"), provider)
    tracer.start_span("before").end()
    # What the SDK's at-fork handler calls in the child (TracerProvider._handle_fork), called here
    # directly: forking a test process is what tests/hardening/test_shutdown.py does end to end.
    provider._update_resource(Resource({"service.instance.id": "child"}))
    tracer.start_span("after").end()
    before, after = exporter.get_finished_spans()
    assert isinstance(after, LeanSpan)
    assert "service.instance.id" not in before.resource.attributes
    assert after.resource.attributes["service.instance.id"] == "child"
