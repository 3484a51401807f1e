"""The proxy's span encoder writes exactly the SDK encoder's bytes, and its exporter loses nothing.

Spans come from the real SDK (TracerProvider, limits, links, events, remote parents); the
reference is opentelemetry-exporter-otlp's own ``encode_spans(...).SerializePartialToString()``;
exports go over real HTTP to local receivers.
"""

from __future__ import annotations

import gc
import logging
import math
import random
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState
from pytest_httpserver import HTTPServer

from otel_llm._config import resolve
from otel_llm._export import queue_items, span_exporter, span_queue, span_wire
from otel_llm._export.export_guard import GuardedSpanExporter
from otel_llm._export.setup import _otlp_span_exporter, span_processor
from otel_llm._export.span_exporter import WireSpanExporter, sdk_internals_known
from tests.encoder_bugs import encoder_bug
from tests.otlp_receiver import OtlpReceiver

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)


def sdk_bytes(spans: Sequence[ReadableSpan]) -> bytes:
    return sdk_encode_spans(spans).SerializePartialToString()  # type: ignore[no-any-return]


class SpanFactory:
    """Real SDK spans from providers with the given resources."""

    def __init__(self, *resources: Resource, limits: SpanLimits | None = None) -> None:
        self.memory = InMemorySpanExporter()
        self.providers = []
        for resource in resources or (Resource.create({"service.name": "litellm-proxy"}),):
            provider = TracerProvider(resource=resource, span_limits=limits)
            provider.add_span_processor(SimpleSpanProcessor(self.memory))
            self.providers.append(provider)

    def tracer(self, index: int = 0, name: str = "otel_llm", version: str | None = "1.2.3", **kw: Any) -> trace.Tracer:
        return self.providers[index].get_tracer(name, version, **kw)

    def spans(self) -> list[ReadableSpan]:
        return list(self.memory.get_finished_spans())


def remote_parent(trace_state: TraceState | None = None) -> otel_context.Context:
    parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=trace_state,
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


PROXY_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.id": "chatcmpl-9f2c0e",
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 345,
    "gen_ai.response.finish_reasons": ("stop",),
    "gen_ai.request.temperature": 0.0,
    "server.address": "127.0.0.1",
    "server.port": 8080,
    "otel_llm.cost.usd": 0.000123,
    "otel_llm.key.alias": "team-a-key",
    "otel_llm.stream": False,
}


def test_a_proxy_request_encodes_to_the_sdk_bytes() -> None:
    factory = SpanFactory()
    tracer = factory.tracer()
    with (
        tracer.start_as_current_span("POST /chat/completions", kind=SpanKind.SERVER, context=remote_parent()),
        tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=PROXY_ATTRIBUTES),
    ):
        pass
    spans = factory.spans()
    assert span_wire.encode_spans(spans) == sdk_bytes(spans)


def test_every_field_of_the_span_model_encodes_to_the_sdk_bytes() -> None:
    limits = SpanLimits(max_span_attributes=6, max_events=2, max_links=1, max_event_attributes=2)
    factory = SpanFactory(
        Resource.create({"service.name": "a", "deployment.environment.name": "prod"}, schema_url="https://x/1.0"),
        Resource({"service.name": "b", "weights": (1.5, 2.5)}),
        limits=limits,
    )
    scoped = factory.tracer(0, "scoped", None, schema_url="https://s/1", attributes={"scope.attr": 7})
    nameless = factory.tracer(0, "", None)
    other = factory.tracer(1)
    state = TraceState([("vendor", "v1"), ("other", "x-y")])
    with scoped.start_as_current_span("remote child", kind=SpanKind.CONSUMER, context=remote_parent(state)) as span:
        linked = span.get_span_context()
        span.set_attributes({f"a{i}": i for i in range(10)})  # 4 dropped
        for i in range(4):  # 2 dropped
            span.add_event(f"e{i}", {"x": i, "y": "z", "w": True}, timestamp=1_700_000_000_000_000_000 + i)
        span.set_status(Status(StatusCode.ERROR, "boom: ünïcode"))
    with (
        nameless.start_as_current_span("", kind=SpanKind.PRODUCER, links=[Link(linked, {"l": "1"}), Link(linked)]),
        nameless.start_as_current_span("local child", kind=SpanKind.INTERNAL) as child,
    ):
        child.add_event("no attributes")
        child.set_status(Status(StatusCode.OK))
    with other.start_as_current_span("other resource", kind=SpanKind.SERVER, context=remote_parent(TraceState())):
        pass
    with scoped.start_as_current_span("back to the first scope", links=[Link(remote_parent_context())]):
        pass
    spans = factory.spans()
    assert any(s.dropped_attributes for s in spans) and any(s.dropped_events for s in spans)
    assert any(s.dropped_links for s in spans)
    assert span_wire.encode_spans(spans) == sdk_bytes(spans)


def test_hand_built_spans_without_scope_or_end_encode_to_the_sdk_bytes() -> None:
    context = SpanContext(0xABC, 0xDEF, is_remote=False)
    spans = [
        ReadableSpan(name="bare", context=context, resource=Resource({}), instrumentation_scope=None),
        ReadableSpan(
            name="started",
            context=context,
            parent=remote_parent_context(),
            resource=Resource({"service.name": "x"}, schema_url="https://r/1"),
            attributes={"k": "v"},
            start_time=5,
            kind=SpanKind.SERVER,
        ),
    ]
    assert span_wire.encode_spans(spans) == sdk_bytes(spans)


def remote_parent_context() -> SpanContext:
    return SpanContext(0x1, 0x2, is_remote=True)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "ascii",
        "ünïcödé ✓ 🚀",
        "x" * 127,
        "y" * 128,
        "z" * 20_000,
        True,
        False,
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        -1,
        INT64_MAX,
        INT64_MIN,
        0.0,
        -0.0,
        1.5,
        -2.25e300,
        math.inf,
        -math.inf,
        math.nan,
        (),
        ("stop",),
        ("a", "", "ü"),
        (True, False),
        (0, -1, INT64_MAX),
        (0.5, math.nan),
        tuple(range(200)),
    ],
    ids=repr,
)
def test_each_attribute_value_encodes_to_the_sdk_bytes(value: Any) -> None:
    factory = SpanFactory()
    with factory.tracer().start_as_current_span("s", attributes={"k": value, "": "empty key"}):
        pass
    spans = factory.spans()
    assert span_wire.encode_spans(spans) == sdk_bytes(spans)


def _random_scalar(rng: random.Random, kind: int) -> Any:
    if kind == 0:
        return "".join(rng.choice("aé✓🚀 _-") for _ in range(rng.choice((0, 1, 5, 60, 200))))
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice((0, 1, 127, 128, 300, -1, -300, INT64_MAX, INT64_MIN, rng.randint(INT64_MIN, INT64_MAX)))
    return rng.choice((0.0, -0.0, 1e-300, rng.uniform(-1e9, 1e9), math.inf))


def _random_value(rng: random.Random) -> Any:
    """A scalar, or a homogeneous tuple (what the SDK keeps of a sequence)."""
    kind = rng.randrange(4)
    if rng.random() < 0.3:
        return tuple(_random_scalar(rng, kind) for _ in range(rng.randrange(4)))
    return _random_scalar(rng, kind)


def test_random_batches_encode_to_the_sdk_bytes() -> None:
    rng = random.Random(20261126)
    factory = SpanFactory(Resource.create({"service.name": "p"}), Resource.create({"service.name": "q"}))
    tracers = [factory.tracer(0), factory.tracer(0, "second", "9"), factory.tracer(1)]
    kinds = list(SpanKind)
    for i in range(300):
        attributes = {f"attr.{rng.randrange(40)}": _random_value(rng) for _ in range(rng.randrange(25))}
        tracer = rng.choice(tracers)
        with tracer.start_as_current_span(f"span {i}", kind=rng.choice(kinds), attributes=attributes) as span:
            if rng.random() < 0.2:
                span.add_event("event", {"n": rng.randrange(1000), "v": _random_value(rng)})
            if rng.random() < 0.2:
                span.set_status(Status(rng.choice(list(StatusCode)), "why" if rng.random() < 0.5 else None))
    spans = factory.spans()
    for start in range(0, len(spans), 64):
        batch = spans[start : start + 64]
        assert span_wire.encode_spans(batch) == sdk_bytes(batch)


def test_equal_resources_from_different_providers_are_grouped_like_the_sdk_does() -> None:
    factory = SpanFactory(Resource({"service.name": "same"}), Resource({"service.name": "same"}))
    assert factory.providers[0].resource is not factory.providers[1].resource
    for index in (0, 1, 0, 1):
        with factory.tracer(index).start_as_current_span(f"from provider {index}"):
            pass
    spans = factory.spans()
    assert span_wire.encode_spans(spans) == sdk_bytes(spans)


@pytest.mark.parametrize("value", [INT64_MAX + 1, INT64_MIN - 1, "lone \ud800 surrogate"], ids=repr)
def test_values_only_the_sdk_decides_about_are_left_to_it(value: Any) -> None:
    factory = SpanFactory()
    with factory.tracer().start_as_current_span("s", attributes={"k": value}):
        pass
    with pytest.raises(span_wire.Unsupported):
        span_wire.encode_spans(factory.spans())


def test_timestamps_out_of_range_are_left_to_the_sdk() -> None:
    factory = SpanFactory()
    factory.tracer().start_span("from before 1970", start_time=-1).end(end_time=1)
    with pytest.raises(span_wire.Unsupported):
        span_wire.encode_spans(factory.spans())


def test_the_caches_stay_bounded() -> None:
    factory = SpanFactory()
    tracer = factory.tracer()
    for i in range(span_wire._SPAN_STRING_CACHE_LIMIT + 10):
        with tracer.start_as_current_span("s", attributes={f"key.{i % 1500}": f"value {i}"}):
            pass
    with tracer.start_as_current_span("captured content", attributes={"k" * 300: "p" * 16_384, "K" * 300: "short"}):
        pass
    spans = factory.spans()
    assert span_wire.encode_spans(spans) == sdk_bytes(spans)
    assert len(span_wire._span_string_fields) <= span_wire._SPAN_STRING_CACHE_LIMIT
    assert len(span_wire._key_fields) <= span_wire._KEY_CACHE_LIMIT
    longest = span_wire._CACHED_STRING_MAX_CHARS
    assert all(len(k) <= longest and len(v) <= longest for k, v in span_wire._span_string_fields)
    assert all(len(k) <= longest for k in span_wire._key_fields)


# --- the exporter -------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


def _proxy_spans(count: int = 3) -> list[ReadableSpan]:
    factory = SpanFactory()
    for i in range(count):
        with factory.tracer().start_as_current_span(f"chat {i}", kind=SpanKind.CLIENT, attributes=PROXY_ATTRIBUTES):
            pass
    return factory.spans()


def test_the_proxy_exports_with_the_wire_encoder_by_default(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{receiver.endpoint}/v1/traces")  # the SDK reads it
    exporter = _otlp_span_exporter({}, None)
    assert isinstance(exporter, WireSpanExporter) and exporter.wire_encoding
    spans = _proxy_spans()
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert receiver.raw == [sdk_bytes(spans)]
    assert [s["name"] for s in receiver.spans()] == ["chat 0", "chat 1", "chat 2"]
    exporter.shutdown()


def test_the_sdk_encoder_is_one_setting_away(caplog: pytest.LogCaptureFixture) -> None:
    plain = _otlp_span_exporter({}, None, resolve({"OTEL_LLM_PROXY_SPAN_ENCODER": "SDK"}).proxy_span_encoder)
    assert type(plain) is OTLPSpanExporter
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        encoder = resolve({"OTEL_LLM_PROXY_SPAN_ENCODER": "fast"}).proxy_span_encoder
    fallback = _otlp_span_exporter({}, None, encoder)
    assert isinstance(fallback, WireSpanExporter)
    assert "OTEL_LLM_PROXY_SPAN_ENCODER" in caplog.text and "wire, sdk" in caplog.text
    grpc = _otlp_span_exporter({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, None)
    assert not isinstance(grpc, WireSpanExporter)


def test_a_batch_the_wire_encoder_leaves_is_exported_by_the_sdk(receiver: OtlpReceiver) -> None:
    factory = SpanFactory()
    with factory.tracer().start_as_current_span("huge", attributes={"big": INT64_MAX + 1, "ok": "kept"}):
        pass
    spans = factory.spans()
    exporter = WireSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert receiver.raw == [sdk_bytes(spans)]
    assert receiver.spans()[0]["attributes"] == {"ok": "kept"}  # the SDK logs and skips what it cannot encode


def test_an_encoder_bug_is_reported_and_the_batch_still_goes_out(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans = _proxy_spans(1)
    exporter = WireSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
    with encoder_bug(monkeypatch, span_wire, "encode_spans", "span encoder"):
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert receiver.raw == [sdk_bytes(spans)]


def test_failed_and_oversized_exports_fail_like_the_sdk_exporter(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/traces", method="POST").respond_with_data("bad", status=400)
    spans = _proxy_spans(1)
    exporter = WireSpanExporter(endpoint=httpserver.url_for("/v1/traces"), timeout=2)
    assert exporter.export(spans) is SpanExportResult.FAILURE
    assert httpserver.log[0][0].get_data() == sdk_bytes(spans)
    assert httpserver.log[0][0].headers["Content-Type"] == "application/x-protobuf"

    small = WireSpanExporter(endpoint=httpserver.url_for("/v1/traces"), max_request_size=100)
    assert small.export(spans) is SpanExportResult.FAILURE
    assert len(httpserver.log) == 1  # dropped before sending, as the SDK exporter does


def test_after_shutdown_nothing_is_sent(receiver: OtlpReceiver) -> None:
    exporter = WireSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
    exporter.shutdown()
    assert exporter.export(_proxy_spans(1)) is SpanExportResult.FAILURE
    assert receiver.raw == []


def test_an_exporter_without_the_known_internals_exports_the_sdks_way(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert not sdk_internals_known(object())
    monkeypatch.setattr(span_exporter, "_SEND_HELPERS", False)  # as with an exporter version lacking them
    with caplog.at_level(logging.INFO, logger="otel_llm"):
        exporter = WireSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
    assert not exporter.wire_encoding
    assert "using the SDK's" in caplog.text

    def must_not_run(spans: Sequence[ReadableSpan]) -> bytes:
        raise AssertionError("the wire encoder ran")

    monkeypatch.setattr(span_wire, "encode_spans", must_not_run)
    spans = _proxy_spans(2)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert receiver.raw == [sdk_bytes(spans)]


# --- the processor: spans encoded when they end -------------------------------------------


def _wire_processor(receiver: OtlpReceiver, **kwargs: Any) -> span_queue.WireSpanProcessor:
    exporter = GuardedSpanExporter(WireSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"))
    processor = span_processor(exporter, {}, None)
    assert isinstance(processor, span_queue.WireSpanProcessor) and processor.wire
    return processor


def _handed_over(
    processor: span_queue.WireSpanProcessor, spans: Sequence[ReadableSpan]
) -> tuple[list[bytes], list[weakref.ref[ReadableSpan]]]:
    """End ``spans`` into ``processor`` as their provider would: the request bytes expected, and weak
    references that tell whether anything kept the spans."""
    expected = [sdk_bytes(spans)]
    refs = [weakref.ref(span) for span in spans]
    for span in spans:
        processor.on_end(span)
    return expected, refs


def test_the_proxy_processor_queues_spans_as_bytes_and_exports_the_sdk_bytes(receiver: OtlpReceiver) -> None:
    processor = _wire_processor(receiver)
    factory = SpanFactory()
    for i in range(3):
        with factory.tracer().start_as_current_span(f"chat {i}", kind=SpanKind.CLIENT, attributes=PROXY_ATTRIBUTES):
            pass
    spans = factory.spans()
    factory.memory.clear()  # the test's own copy of the finished spans
    expected, refs = _handed_over(processor, spans)
    del spans
    gc.collect()
    # Queued, not yet exported, and nothing of the spans is kept (the SDK's processor keeps them):
    # they do not wait in the queue to be promoted by the host's garbage collector.
    assert receiver.raw == [] and [ref() for ref in refs] == [None, None, None]
    assert processor.force_flush(10_000)
    assert receiver.raw == expected
    assert [s["name"] for s in receiver.spans()] == ["chat 0", "chat 1", "chat 2"]
    processor.shutdown()


def test_queued_spans_are_atoms_the_garbage_collector_untracks(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor = _wire_processor(receiver)
    queued: list[Any] = []
    emit = processor._emit
    monkeypatch.setattr(processor, "_emit", lambda item: (queued.append(item), emit(item)))
    spans = _proxy_spans(2)
    expected, _ = _handed_over(processor, spans)
    gc.collect(0)
    # (origin number, bytes): untracked at the first young collection, so a span waiting for its
    # batch is never promoted to the oldest generation with the host's in-flight state.
    assert len(queued) == 2 and not any(gc.is_tracked(item) for item in queued)
    assert [queue_items.origin_of(item) for item in queued] == [(s.resource, s.instrumentation_scope) for s in spans]
    assert processor.force_flush(10_000)
    assert receiver.raw == expected
    processor.shutdown()


def test_origins_beyond_the_table_are_queued_with_their_resource_and_scope(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_items, "MAX_ORIGINS", len(queue_items._origins))  # full: no new pair is numbered
    spans = _proxy_spans(2)
    items = [queue_items.encoded(s.resource, s.instrumentation_scope, span_wire.encode_span(s)) for s in spans]
    assert [item[0] for item in items] == [(s.resource, s.instrumentation_scope) for s in spans]
    exporter = WireSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
    assert exporter.export(items) is SpanExportResult.SUCCESS
    assert receiver.raw == [sdk_bytes(spans)]
    exporter.shutdown()


def test_a_span_the_wire_encoder_leaves_is_queued_as_the_span_and_exported_by_the_sdk(
    receiver: OtlpReceiver,
) -> None:
    factory = SpanFactory()
    tracer = factory.tracer()
    with tracer.start_as_current_span("before", attributes=PROXY_ATTRIBUTES):
        pass
    with tracer.start_as_current_span("huge", attributes={"big": INT64_MAX + 1, "ok": "kept"}):
        pass
    with tracer.start_as_current_span("after", attributes=PROXY_ATTRIBUTES):
        pass
    before, huge, after = factory.spans()
    processor = _wire_processor(receiver)
    for span in (before, huge, after):
        processor.on_end(span)
    assert processor.force_flush(10_000)
    # One batch, two requests: the encoded spans, then the one the SDK encodes (and logs and skips the value of).
    assert receiver.raw == [sdk_bytes([before, after]), sdk_bytes([huge])]
    assert {s["name"]: s["attributes"].get("ok") for s in receiver.spans()} == {
        "before": None,
        "after": None,
        "huge": "kept",
    }
    processor.shutdown()


def test_unsampled_spans_are_not_queued(receiver: OtlpReceiver) -> None:
    factory = SpanFactory()
    unsampled = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(0x1, 0x2, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT)))
    )
    with factory.tracer().start_as_current_span("kept"):
        pass
    kept = factory.spans()[0]
    dropped = ReadableSpan(
        name="unsampled",
        context=SpanContext(0x1, 0x3, is_remote=False, trace_flags=TraceFlags(TraceFlags.DEFAULT)),
        parent=trace.get_current_span(unsampled).get_span_context(),
        resource=kept.resource,
    )
    processor = _wire_processor(receiver)
    processor.on_end(dropped)
    processor.on_end(kept)
    assert processor.force_flush(10_000)
    assert [s["name"] for s in receiver.spans()] == ["kept"]
    processor.shutdown()


def test_an_encoder_bug_at_the_end_of_a_span_is_reported_and_the_span_still_goes_out(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor = _wire_processor(receiver)
    spans = _proxy_spans(1)
    with encoder_bug(monkeypatch, span_queue, "encode_span", "span encoder"):
        processor.on_end(spans[0])
        assert processor.force_flush(10_000)
    assert receiver.raw == [sdk_bytes(spans)]  # queued as the span, encoded at export
    processor.shutdown()


def test_with_an_exporter_that_does_not_send_encoded_spans_it_is_the_sdks_processor(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(span: ReadableSpan) -> bytes:
        raise AssertionError("the wire encoder ran")

    monkeypatch.setattr(span_queue, "encode_span", must_not_run)
    sdk_exporter = OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
    processor = span_processor(GuardedSpanExporter(sdk_exporter), {}, None)
    assert not processor.wire  # type: ignore[attr-defined]
    spans = _proxy_spans(2)
    for span in spans:
        processor.on_end(span)
    assert processor.force_flush(10_000)
    assert receiver.raw == [sdk_bytes(spans)]
    processor.shutdown()


def test_encoded_spans_after_shutdown_are_not_sent(receiver: OtlpReceiver) -> None:
    exporter = WireSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
    span = _proxy_spans(1)[0]
    item = queue_items.encoded(span.resource, span.instrumentation_scope, span_wire.encode_span(span))
    exporter.shutdown()
    assert exporter.export([item]) is SpanExportResult.FAILURE
    assert receiver.raw == []
