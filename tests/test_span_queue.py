"""The proxy's span processor queues each span's OTLP bytes, encoded as it ends, and exports exactly
the SDK's bytes; nothing is lost when the encoder cannot take a span.

Spans come from the real SDK (and otel-llm's lean tracer) on one provider that also feeds an
in-memory exporter; the reference is the SDK encoder's bytes of those same spans; exports go
over real HTTP to a local receiver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.span import TraceState

from otel_llm import _errors
from otel_llm._export import span_wire
from otel_llm._export.export_guard import GuardedSpanExporter
from otel_llm._export.lean_spans import LeanTracer, lean_tracer
from otel_llm._export.span_exporter import WireSpanExporter, WireSpanProcessor
from tests.otlp_receiver import OtlpReceiver
from tests.test_span_wire import INT64_MAX, PROXY_ATTRIBUTES, remote_parent, sdk_bytes


class RecordOnlyWhenAsked(Sampler):
    """Samples every span except those named ``record-only …``: recorded, not sampled (never exported)."""

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str, *args: Any, **kw: Any) -> Any:
        decision = Decision.RECORD_ONLY if name.startswith("record-only") else Decision.RECORD_AND_SAMPLE
        return SamplingResult(decision, kw.get("attributes") or (args[1] if len(args) > 1 else None))

    def get_description(self) -> str:
        return "RecordOnlyWhenAsked"


class Pipeline:
    """A provider whose spans go to memory (the reference) and through the wire processor to a receiver."""

    def __init__(self, receiver: OtlpReceiver, limits: SpanLimits | None = None) -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": "litellm-proxy"}),
            sampler=RecordOnlyWhenAsked(),
            span_limits=limits,
            shutdown_on_exit=False,
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.exporter = WireSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces", timeout=5)
        self.processor = WireSpanProcessor(
            GuardedSpanExporter(self.exporter), True, max_export_batch_size=512, schedule_delay_millis=60_000
        )
        self.provider.add_span_processor(self.processor)
        self.receiver = receiver

    def sampled(self) -> list[ReadableSpan]:
        return [s for s in self.memory.get_finished_spans() if s.context.trace_flags.sampled]

    def queued(self) -> list[Any]:
        return list(self.processor._batch_processor._queue)

    def flush(self) -> list[bytes]:
        assert self.provider.force_flush(10_000)
        return list(self.receiver.raw)


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


def _rich_spans(tracers: Sequence[trace.Tracer]) -> None:
    first, second = tracers[0], tracers[-1]
    state = TraceState([("vendor", "v1")])
    with first.start_as_current_span("POST /chat/completions", kind=SpanKind.SERVER, context=remote_parent(state)):
        with second.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=PROXY_ATTRIBUTES) as s:
            s.add_event("gen_ai.retry", {"attempt": 1, "reason": "ünïcode"})
            s.set_attributes({f"extra.{i}": i * 1.5 for i in range(5)})
            link = s.get_span_context()
        with first.start_as_current_span("record-only", attributes={"never": "exported"}):
            pass
        span = first.start_span("linked", links=[Link(link, {"why": "fallback"})])
        span.set_status(Status(StatusCode.ERROR, "boom"))
        span.end()


def test_spans_encoded_as_they_end_are_exported_as_the_sdks_bytes(receiver: OtlpReceiver) -> None:
    pipeline = Pipeline(receiver, SpanLimits(max_span_attributes=20, max_events=1))
    sdk_tracer = pipeline.provider.get_tracer("otel_llm", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.37")
    lean = lean_tracer(pipeline.provider, pipeline.provider.get_tracer("otel_llm.lean", "1"))
    assert isinstance(lean, LeanTracer)  # the wire processor takes lean spans
    _rich_spans([sdk_tracer, lean])
    _rich_spans([lean, pipeline.provider.get_tracer("fastapi", None)])
    queued = pipeline.queued()
    assert queued and all(type(item) is span_wire.Encoded and type(item.data) is bytes for item in queued)
    sampled = pipeline.sampled()
    assert len(queued) == len(sampled) == 6  # the record-only spans are not exported, as with the SDK's processor
    assert pipeline.flush() == [sdk_bytes(sampled)]


def test_a_span_the_encoder_does_not_take_is_queued_and_exported_the_sdks_way(receiver: OtlpReceiver) -> None:
    pipeline = Pipeline(receiver)
    tracer = pipeline.provider.get_tracer("otel_llm")
    with tracer.start_as_current_span("before"):
        pass
    with tracer.start_as_current_span("huge", attributes={"big": INT64_MAX + 1, "ok": "kept"}):
        pass
    with tracer.start_as_current_span("after"):
        pass
    assert [type(item).__name__ for item in pipeline.queued()] == ["Encoded", "ReadableSpan", "Encoded"]
    before, huge, after = pipeline.sampled()
    assert pipeline.flush() == [sdk_bytes([before, after]), sdk_bytes([huge])]
    assert [s["name"] for s in receiver.spans()] == ["before", "after", "huge"]


def test_an_encoder_bug_costs_no_span(receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(span: ReadableSpan) -> bytes:
        raise RuntimeError("encoder bug")

    monkeypatch.setattr(span_wire, "encode_span", broken)  # our own code, made to fail on purpose
    pipeline = Pipeline(receiver)
    before = _errors.internal_error_count("span encoder")
    with pipeline.provider.get_tracer("otel_llm").start_as_current_span("still exported"):
        pass
    assert _errors.internal_error_count("span encoder") == before + 1  # as it ended
    pipeline.flush()  # the exporter's batch encoder fails too, and the SDK's encodes the span
    assert [s["name"] for s in receiver.spans()] == ["still exported"]
    assert {str(e) for e in _errors.take_strict_errors()} == {"encoder bug"}


def test_without_encoding_it_is_the_sdks_processor(receiver: OtlpReceiver) -> None:
    exporter = WireSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
    processor = WireSpanProcessor(exporter, False)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    with provider.get_tracer("t").start_as_current_span("plain"):
        pass
    assert [type(item).__name__ for item in processor._batch_processor._queue] == ["ReadableSpan"]
    assert provider.force_flush(10_000)
    assert [s["name"] for s in receiver.spans()] == ["plain"]


INSTALL = """
import json, os
from opentelemetry import trace
from otel_llm._config import resolve
from otel_llm._export.setup import install_providers
install_providers(resolve(os.environ), os.environ)
processors = trace.get_tracer_provider()._active_span_processor._span_processors
print(json.dumps([type(p).__name__ + (":encoded" if getattr(p, "encoded", False) else "") for p in processors]))
"""


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ["UrlRedactingSpanProcessor", "WireSpanProcessor:encoded"]),
        ({"OTEL_LLM_LEAN_PATH": "false"}, ["UrlRedactingSpanProcessor", "BatchSpanProcessor"]),
        ({"OTEL_LLM_PROXY_SPAN_ENCODER": "sdk"}, ["UrlRedactingSpanProcessor", "BatchSpanProcessor"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, ["UrlRedactingSpanProcessor", "BatchSpanProcessor"]),
    ],
)
def test_the_proxy_pipeline_queues_encoded_spans_on_the_lean_path_only(
    receiver: OtlpReceiver, env: dict[str, str], expected: list[str]
) -> None:
    """Run in a fresh interpreter: installing providers sets the process's global ones."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    run_env = clean | {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint} | env
    out = subprocess.run(
        [sys.executable, "-c", INSTALL], env=run_env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == expected
