"""OTEL_LLM_PROXY_EMITTER=process: attempts made and exported by a real child process.

The worker side here is a ``Telemetry`` over a lean tracer (what the proxy builds); the child is the
real ``python -m otel_llm._export.emitter_process``, exporting OTLP/HTTP to a local receiver from the
same environment. What it exports is compared with what the worker itself makes of the same
records (the inline path), and the hand-off's failure modes fall back to the worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_llm._config import resolve
from otel_llm._emit.store import MetricStore
from otel_llm._emit.telemetry import Telemetry
from otel_llm._export import handoff as handoff_module
from otel_llm._export.handoff import Handoff, install_handoff
from otel_llm._export.lean_spans import LeanTracer, SpanIdentity, lean_tracer
from otel_llm._record import Attribution, InvocationRecord, LoopDetection, RouteStep
from tests.conftest import internal_error_points
from tests.otlp_receiver import OtlpReceiver
from tests.test_lean_spans import Sequential

CLIENT = 3
PROCESS = {"OTEL_LLM_PROXY_EMITTER": "process"}


def _record(index: int, start_ns: int = 1_700_000_000_000_000_000) -> InvocationRecord:
    return InvocationRecord(
        operation="chat",
        call_id=f"call-{index}",
        call_type="acompletion",
        provider="openai",
        request_model="gpt-4o-mini",
        response_model="gpt-4o-mini-2024",
        model_group="gpt-main",
        input_tokens=10 + index,
        output_tokens=5,
        cost_usd=0.0001 * (index + 1),
        start_ns=start_ns,
        end_ns=start_ns + 25_000_000,
        route_step=RouteStep("retry", "gpt-main", "gpt-main", "RateLimitError", 1) if index % 3 == 1 else None,
        loop=LoopDetection("repeat", "observed", 9, 300.0, 8, 9, 0.5, 1.0, 0.0, 0.0) if index % 5 == 4 else None,
        error_type="RateLimitError" if index % 4 == 3 else None,
        error_message="slow down" if index % 4 == 3 else None,
        attribution=Attribution(key_alias="agent-alpha", team_id="team-a", tags=("agent:alpha",)),
    )


def _worker(
    config_env: dict[str, str] | None = None, metrics: InMemoryMetricReader | None = None
) -> tuple[Telemetry, InMemorySpanExporter]:
    """A worker's telemetry as the proxy builds it (lean tracer, metric store), spans into memory;
    ``metrics``: the SDK's instruments into that reader instead of the store (to read them)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "worker"}), id_generator=Sequential())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = resolve(config_env or {}, exporter="otlp")
    store = MetricStore(config.metric_idle_timeout_s, config.metric_series_limit, config.headroom_ttl_s)
    telemetry = Telemetry(
        config,
        tracer_provider=provider,
        meter_provider=MeterProvider(metric_readers=[metrics]) if metrics is not None else None,
        metric_store=store if metrics is None else None,
        span_tracer=lean_tracer,
    )
    assert isinstance(telemetry.tracer, LeanTracer)
    return telemetry, exporter


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """The child's pipeline, from the environment it inherits: OTLP/HTTP here, exported at once."""
    with OtlpReceiver() as r:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.endpoint)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "emitter-test")
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        yield r


def _start_attempt(telemetry: Telemetry, record: InvocationRecord) -> Any:
    return telemetry.start_attempt_span(record.operation, record.request_model, record.start_ns or 0, None)


def test_records_and_identities_travel_intact() -> None:
    """What the worker pickles for the emitter process comes back equal: every field of a record and
    of its nested parts (the shared empty headroom stays the shared one), and a span identity's ids,
    flags, trace state, parent, name, kind, start and attributes."""
    import pickle

    from opentelemetry.trace import SpanContext, TraceFlags, TraceState

    from otel_llm._record import NO_HEADROOM, Content, Headroom

    full = _record(4)
    full.headroom = Headroom(key_spend=1.5, key_max_budget=10.0, provider_remaining_tokens=900)
    full.content = Content(input_messages='[{"role":"user"}]', output_messages=None)
    full.parent_carrier = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
    full.cost_components = (("input", 0.1), ("output", 0.2))
    full.chunk_intervals_s = (0.01, 0.02)
    plain = _record(1)
    assert plain.headroom is NO_HEADROOM
    for record in (full, plain):
        copy = pickle.loads(pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))
        assert copy == record and copy is not record
    assert pickle.loads(pickle.dumps(plain)).headroom is NO_HEADROOM
    parent = SpanContext(5, 6, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("v", "1")]))
    identity = SpanIdentity(
        SpanContext(5, 7, False, TraceFlags(3), TraceState([("k", "v")])),
        "chat m",
        SpanKind.CLIENT,
        parent,
        123,
        {"gen_ai.operation.name": "chat"},
    )
    copy = pickle.loads(pickle.dumps(identity, protocol=pickle.HIGHEST_PROTOCOL))
    assert isinstance(copy, SpanIdentity) and copy.is_identity and not copy.is_recording()
    assert copy.get_span_context() == identity.get_span_context()
    assert copy.get_span_context().trace_state == TraceState([("k", "v")])
    assert copy.parent == parent and copy.parent.is_remote and copy.parent.trace_state == parent.trace_state
    assert (copy.name, copy.kind, copy.start_time, copy.attributes) == (
        "chat m",
        SpanKind.CLIENT,
        123,
        identity.attributes,
    )


def test_identity_then_span_is_the_span_started_at_once() -> None:
    """A span decided now and made later (``start_identity`` → ``span_of``) encodes to the bytes of the
    span ``start_span`` makes at once: same ids, parent, start, kind, attributes, then the same end."""
    encoded = []
    for deferred in (False, True):
        exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource({"service.name": "x"}), id_generator=Sequential())
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = lean_tracer(provider, provider.get_tracer("t"))
        assert isinstance(tracer, LeanTracer)
        server = tracer.start_span("server", kind=SpanKind.SERVER, start_time=1)
        with trace.use_span(server):
            if deferred:
                identity = tracer.start_identity("chat m", None, SpanKind.CLIENT, {"gen_ai.operation.name": "chat"}, 7)
                assert isinstance(identity, SpanIdentity) and not identity.is_recording()
                span = tracer.span_of(identity)
            else:
                span = tracer.start_span(
                    "chat m", kind=SpanKind.CLIENT, attributes={"gen_ai.operation.name": "chat"}, start_time=7
                )
            span.set_attributes({"a": 1, "b": "two"})
            span.add_event("e", {"k": "v"}, timestamp=8)
            span.end(end_time=9)
        server.end(end_time=10)
        encoded.append(encode_spans(exporter.get_finished_spans()).SerializeToString())
    assert encoded[0] == encoded[1]


def test_the_child_exports_what_the_worker_would(receiver: OtlpReceiver) -> None:
    """Attempts handed over (with their live span's identity, or none) reach OTLP from the child exactly
    as the worker would have made them: names, ids, parents, times, attributes, events, status; their
    metric points too, under the child's own service.instance.id."""
    inline, inline_spans = _worker()
    worker, _ = _worker(PROCESS)
    handoff = install_handoff(worker, lean_pipeline=True)
    assert handoff is not None and worker.handoff is handoff
    records = [_record(i) for i in range(12)]
    with trace.use_span(worker.tracer.start_span("server", kind=SpanKind.SERVER)) as server:
        for index, record in enumerate(records):
            span = _start_attempt(worker, record) if index % 6 else None  # some reported without a live span
            worker.emit(record, span)
    with trace.use_span(inline.tracer.start_span("server", kind=SpanKind.SERVER)):
        for index, record in enumerate(records):
            inline.emit(record, _start_attempt(inline, record) if index % 6 else None)
    assert worker.force_flush(10_000) is None
    assert handoff.handed_over == len(records) and handoff.emitted_here == 0
    spans = receiver.wait_for(lambda: len(receiver.spans()) >= len(records) and receiver.spans(), message="spans")
    expected = [s for s in inline_spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    server_id = f"{server.get_span_context().span_id:016x}"
    assert len(spans) == len(expected)
    for got, want in zip(
        sorted(spans, key=lambda s: s["start"] + int(s["attributes"]["gen_ai.usage.input_tokens"])),
        sorted(expected, key=lambda s: s.start_time + s.attributes["gen_ai.usage.input_tokens"]),
        strict=True,
    ):
        assert got["name"] == want.name and got["kind"] == CLIENT
        assert (got["start"], got["end"]) == (want.start_time, want.end_time)
        assert got["attributes"] == {k: tuple(v) if isinstance(v, tuple) else v for k, v in want.attributes.items()}
        assert [name for name, _ in got["events"]] == [e.name for e in want.events]
        assert got["status"] == want.status.status_code.value
        assert got["parent_span_id"] == server_id  # the worker's current span, live span or not
        assert got["resource"]["service.name"] == "emitter-test"
    points = receiver.wait_for(
        lambda: receiver.metric_points("gen_ai.client.token.usage"), timeout=30, message="token usage points"
    )
    assert {resource["service.instance.id"] for _, _, resource in points}  # the child's own instance
    handoff.close()
    assert handoff._child is not None and handoff._child.returncode == 0  # ended with its pipe


def test_identity_ids_reach_the_child(receiver: OtlpReceiver) -> None:
    """The attempt span the child exports has the span id and trace the worker decided (what the provider
    call carried in its traceparent)."""
    worker, _ = _worker(PROCESS)
    handoff = install_handoff(worker, lean_pipeline=True)
    assert handoff is not None
    record = _record(0)
    identity = _start_attempt(worker, record)
    context = identity.get_span_context()
    worker.emit(record, identity)
    worker.force_flush(10_000)
    (span,) = receiver.wait_for(receiver.spans, message="the attempt span")
    assert span["trace_id"] == f"{context.trace_id:032x}" and span["span_id"] == f"{context.span_id:016x}"
    handoff.close()


def test_a_child_that_cannot_run_falls_back_to_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child exits at once (a broken interpreter, say): every record is emitted in the worker, none
    lost, and the episode is counted as an internal error of the hand-off."""
    reader = InMemoryMetricReader()
    worker, spans = _worker(metrics=reader)
    handoff = Handoff(worker, command=[sys.executable, "-c", "pass"])
    worker.handoff = handoff
    records = [_record(i) for i in range(5)]
    for record in records:
        worker.emit(record, _start_attempt(worker, record))
        worker.force_flush(5_000)
    # The first batch reached the pipe before the child exited: never confirmed, it is emitted here too.
    assert len([s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]) == len(records)
    assert handoff.emitted_here == len(records) and handoff.handed_over == 0
    counted = internal_error_points(reader, "export.emitter_process")
    assert counted and counted[0].value == 1  # one episode
    handoff.close()


def test_a_full_queue_emits_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the queue's limit (the child falls behind), the worker emits the record itself: nothing lost."""
    monkeypatch.setattr(handoff_module, "_QUEUE_LIMIT", 0)
    worker, spans = _worker()
    handoff = Handoff(worker, command=[sys.executable, "-c", "import time; time.sleep(30)"])
    worker.handoff = handoff
    record = _record(0)
    worker.emit(record, _start_attempt(worker, record))
    assert handoff.emitted_here == 1 and handoff.handed_over == 0
    (span,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert span.attributes["gen_ai.usage.input_tokens"] == 10


def test_not_installed_where_it_cannot_work(caplog: pytest.LogCaptureFixture) -> None:
    """The application's providers, or an exporter other than OTLP: said, and the worker emits."""
    telemetry, _ = _worker(PROCESS)
    assert install_handoff(telemetry, lean_pipeline=False) is None and telemetry.handoff is None
    assert "OTEL_LLM_PROXY_EMITTER=process ignored" in caplog.text
    inline, _ = _worker()
    assert install_handoff(inline, lean_pipeline=True) is None  # OTEL_LLM_PROXY_EMITTER=inline: nothing to say


_DYING_WORKER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {root!r})
    from tests.test_emitter_process import _record, _worker, _start_attempt
    from otel_llm._export.handoff import install_handoff
    worker, _ = _worker({{"OTEL_LLM_PROXY_EMITTER": "process"}})
    handoff = install_handoff(worker, lean_pipeline=True)
    records = [_record(i) for i in range(20)]
    for record in records:
        worker.emit(record, _start_attempt(worker, record))
    worker.force_flush(10_000)  # the child has the first twenty
    for i in range(20, 25):
        record = _record(i)
        worker.emit(record, _start_attempt(worker, record))
    import time; time.sleep(0.5)  # the writer thread hands them over
    os._exit(0)  # no atexit hooks: as a worker that re-raises SIGTERM
    """
)


@pytest.mark.slow
def test_the_child_exports_what_it_has_when_its_worker_dies(receiver: OtlpReceiver) -> None:
    """A worker that ends without its exit hooks (uvicorn re-raising SIGTERM, a crash) closes the pipe:
    the child exports every record it was handed and exits on its own."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", _DYING_WORKER.format(root=root)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    receiver.wait_for(lambda: len(receiver.spans()) == 25, timeout=30, message="all 25 attempt spans")


@pytest.mark.slow
def test_a_forked_worker_starts_its_own_emitter(receiver: OtlpReceiver) -> None:
    """A worker forked after its parent's emitter process started (gunicorn --preload after a warm-up call)
    hands its attempts to an emitter of its own; the parent's keeps working, its pipe not held by the fork."""
    worker, _ = _worker(PROCESS)
    handoff = install_handoff(worker, lean_pipeline=True)
    assert handoff is not None
    first = _record(0)
    worker.emit(first, _start_attempt(worker, first))
    worker.force_flush(10_000)
    assert handoff.children_started == 1
    pid = os.fork()
    if pid == 0:  # the forked worker: exit code 0 only if its own emitter took both records
        code = 1
        try:
            for index in (1, 2):
                record = _record(index)
                worker.emit(record, _start_attempt(worker, record))
            worker.force_flush(10_000)
            ok = handoff.children_started == 1 and handoff.handed_over == 2 and handoff.emitted_here == 0
            handoff.close()
            code = 0 if ok else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    last = _record(3)
    worker.emit(last, _start_attempt(worker, last))
    worker.force_flush(10_000)
    assert handoff.handed_over == 2 and handoff.emitted_here == 0 and handoff.children_started == 1
    receiver.wait_for(lambda: len(receiver.spans()) == 4, message="the parent's two spans and the fork's two")
    assert len({s["resource"]["service.instance.id"] for s in receiver.spans()}) == 2
    handoff.close()
