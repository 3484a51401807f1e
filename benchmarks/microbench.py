"""otel-llm's record + emit path versus the same telemetry written with raw SDK calls.

Both sides start from the same real LiteLLM callback payload (captured from a
``mock_response`` call), write to the same pipeline (BatchSpanProcessor → discarding
exporter, in-memory metric reader), and are timed in interleaved rounds by process CPU
(all threads; the span processor is flushed inside each timed block).

* ``raw_sdk``: one span with 10 attributes and three histogram points (the floor);
* ``raw_sdk_same_telemetry``: exactly the span (name, kind, every attribute) and the metric
  points (the histograms and the per-key counters; same attribute sets, exemplars on duration
  and cost) otel-llm writes for the payload, precomputed and written with raw SDK calls: what
  the SDK itself charges for otel-llm's richer telemetry, so ``otel_llm`` over it is the cost
  of otel-llm's own code;
* ``otel_llm_lean``: the same call on the lean path (otel-llm's metric store and lean spans,
  where otel-llm builds the pipeline);
* ``otel_llm``: ``build_record`` + loop detection (``_loop.guard.observe``, when present) +
  ``Telemetry.emit``: what the callback does per call;
* its parts: ``build_record``, ``loop_observe`` (every call shares one scope, as all calls of an
  SDK process or of one proxy key do, so its window is full), and the span, metric and
  headroom emitters alone.

Run twice: with the SDK payload, and with a proxy-style payload (virtual key, team, end
user in the metadata). Then the proxy exporter's encoding step alone: 64 of otel-llm's attempt
spans for the proxy payload encoded by the SDK's OTLP encoder and by otel-llm's wire encoder
(``span_encoding``: µs per span, and whether the bytes are identical), and the usage record
(one OTLP log record per attempt) through the SDK's log pipeline and through otel-llm's
(``usage_records``: emit, queue, encode, per record, with the transport replaced by a null
client in both). ``--profile FILE``
writes a pyinstrument profile of ``otel_llm``. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

from configs import floor_emitter, install_pipeline


def capture_payload() -> dict[str, Any]:
    """The kwargs LiteLLM hands a success callback for one mock chat completion."""
    import litellm  # noqa: PLC0415
    from litellm.integrations.custom_logger import CustomLogger  # noqa: PLC0415

    seen: list[dict[str, Any]] = []

    class Capture(CustomLogger):  # type: ignore[misc]
        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            seen.append(kwargs)

    capture = Capture()
    litellm.callbacks.append(capture)
    litellm.completion(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello to the benchmark"}],
        mock_response="Hello from the mock provider",
        temperature=0.2,
        max_tokens=64,
    )
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    litellm.logging_callback_manager.remove_callback_from_all_lists(capture)
    if not seen:
        raise RuntimeError("no callback payload captured")
    return seen[0]


def proxy_payload(kwargs: dict[str, Any], key: int = 7, end_user: int = 42) -> dict[str, Any]:
    """The same payload as the proxy would report it for a virtual key, team and end user."""
    result = dict(kwargs)
    slo = dict(result["standard_logging_object"])
    metadata = dict(slo.get("metadata") or {})
    metadata.update(
        {
            "user_api_key_hash": f"{key:064x}",
            "user_api_key_alias": f"key-{key}",
            "user_api_key_team_id": f"team-{key % 50}",
            "user_api_key_team_alias": f"Team {key % 50}",
            "user_api_key_user_id": f"user-{key}",
            "user_api_key_spend": 1.5,
            "user_api_key_max_budget": 100.0,
        }
    )
    slo["metadata"] = metadata
    slo["end_user"] = f"end-user-{end_user}"
    slo["model_group"] = "gpt-main"
    result["standard_logging_object"] = slo
    return result


def raw_emitter(pipeline: Any) -> Callable[[dict[str, Any]], None]:
    """The floor: the same span + three points the floor configuration writes."""
    return floor_emitter(pipeline)


class _Noting:
    """An instrument that notes each point written (instrument, value, attributes, whether a context
    was passed), histogram or counter alike."""

    def __init__(self, points: list[tuple[str, float, dict[str, Any], bool]], name: str) -> None:
        self._points = points
        self._name = name

    def record(self, value: float, attributes: Any = None, context: Any = None) -> None:
        self._points.append((self._name, value, dict(attributes or {}), context is not None))

    add = record


class _NotingMeter:
    """A meter of noting instruments: what otel-llm's metric emitter writes for one record, to replay."""

    def __init__(self) -> None:
        self.points: list[tuple[str, float, dict[str, Any], bool]] = []

    def create_histogram(self, name: str, **_: Any) -> _Noting:
        return _Noting(self.points, name)

    def create_counter(self, name: str, **_: Any) -> _Noting:
        return _Noting(self.points, name)


def same_telemetry_emitter(pipeline: Any, record: Any, config: Any) -> Callable[[], None]:
    """otel-llm's span and exactly the metric points it writes for ``record`` (noted from its own
    metric emitter once, so the reference cannot fall behind what otel-llm writes: the histograms
    by model and group, the per-key counters, the cost components), their attributes precomputed,
    written with raw SDK calls."""
    from opentelemetry import trace  # noqa: PLC0415
    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    from otel_llm._emit import instruments as table  # noqa: PLC0415
    from otel_llm._emit.attributes import span_attributes, span_name  # noqa: PLC0415
    from otel_llm._emit.cardinality import CardinalityLimiter  # noqa: PLC0415
    from otel_llm._emit.metrics import MetricEmitter  # noqa: PLC0415
    from otel_llm._emit.store import MetricStore  # noqa: PLC0415

    tracer = pipeline.tracer_provider.get_tracer("same-telemetry")
    meter = pipeline.meter_provider.get_meter("same-telemetry")
    noting = _NotingMeter()
    store = MetricStore(config.metric_idle_timeout_s, config.metric_series_limit, config.headroom_ttl_s)
    ours = table.Instruments(store, noting, config.metric_series_limit)  # type: ignore[arg-type]
    limiter = CardinalityLimiter(config.metric_attribute_value_limit, config.metric_idle_timeout_s)
    emitter = MetricEmitter(ours, limiter, config.metric_attribution, config.metric_idle_timeout_s)
    emitter.emit(record, trace.set_span_in_context(trace.INVALID_SPAN))
    specs = {spec.name: spec for spec in (*table.HISTOGRAMS, *table.COUNTERS)}
    raw: dict[str, Callable[..., None]] = {}
    for name in {point[0] for point in noting.points}:
        spec = specs[name]
        raw[name] = (
            meter.create_histogram(name, unit=spec.unit, explicit_bucket_boundaries_advisory=spec.buckets).record
            if spec.kind == "histogram"
            else meter.create_counter(name, unit=spec.unit).add
        )
    unlinked = tuple((raw[name], value, attrs) for name, value, attrs, linked in noting.points if not linked)
    linked = tuple((raw[name], value, attrs) for name, value, attrs, is_linked in noting.points if is_linked)
    name = span_name(record.operation, record.request_model)
    attributes = span_attributes(record)
    start, end = record.start_ns, record.end_ns

    def emit() -> None:
        span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes, start_time=start)
        span.end(end_time=end)
        context = trace.set_span_in_context(span)
        for write, value, attrs in linked:  # the histograms with exemplars linking to the span
            write(value, attrs, context=context)
        for write, value, attrs in unlinked:
            write(value, attrs)

    emit.points = len(noting.points)  # type: ignore[attr-defined]
    return emit


def measure(ops: dict[str, Callable[[], None]], n: int, rounds: int, flush: Callable[[], None]) -> dict[str, Any]:
    samples: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(rounds):
        for name, op in ops.items():
            gc.collect()
            flush()
            t0 = time.process_time()
            for _ in range(n):
                op()
            flush()
            samples[name].append((time.process_time() - t0) / n * 1e6)
    return {
        name: {"us_median": statistics.median(v), "us_min": min(v), "us_max": max(v), "rounds": v}
        for name, v in samples.items()
    }


BATCH_SPANS = 64  # the proxy's default OTLP export batch


def span_encoding(
    kwargs: dict[str, Any], config: Any, n: int, rounds: int, build_record: Any, telemetry_class: Any
) -> dict[str, Any]:
    """The proxy exporter's encoding step, per span: the SDK's OTLP encoder against otel-llm's.

    The batch is 64 of the attempt spans otel-llm writes for the proxy payload (key, team, end
    user), captured from a real provider; both encoders run on the same batch, interleaved.
    """
    try:
        from otel_llm._export import span_wire  # noqa: PLC0415
    except ImportError:  # older otel-llm: the SDK's encoder only
        return {}
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: PLC0415
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: PLC0415

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "litellm-proxy"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    telemetry = telemetry_class(config, provider, MeterProvider())
    slo = kwargs["standard_logging_object"]
    for _ in range(BATCH_SPANS):
        telemetry.emit(build_record(slo, kwargs, config))
    telemetry.close()
    batch = memory.get_finished_spans()
    sdk_bytes = encode_spans(batch).SerializePartialToString()
    ops: dict[str, Callable[[], None]] = {
        "sdk": lambda: encode_spans(batch).SerializePartialToString(),
        "wire": lambda: span_wire.encode_spans(batch),
    }
    measured = measure(ops, n, rounds, lambda: None)
    per_span = {name: measured[name]["us_median"] / len(batch) for name in ops}
    return {
        "spans_per_batch": len(batch),
        "attributes_per_span": len(batch[0].attributes or {}),
        "sdk_us_per_span": per_span["sdk"],
        "wire_us_per_span": per_span["wire"],
        "ratio_sdk_to_wire": per_span["sdk"] / per_span["wire"],
        "identical_bytes": span_wire.encode_spans(batch) == sdk_bytes,
    }


def _lean_telemetry(pipeline: Any, config: Any, telemetry_class: Any) -> Any:
    """otel-llm's telemetry on the lean path, as the proxy builds it: the metric store (read by a
    reader slot, collected outside the timed loop) and lean spans on the same tracer provider."""
    try:
        from otel_llm._emit.store import MetricStore  # noqa: PLC0415
        from otel_llm._export.lean_spans import lean_tracer  # noqa: PLC0415
    except ImportError:  # older otel-llm: no lean path
        return telemetry_class(config, pipeline.tracer_provider, pipeline.meter_provider)
    store = MetricStore(config.metric_idle_timeout_s, config.metric_series_limit, config.headroom_ttl_s)
    store.add_reader("microbench")
    return telemetry_class(
        config, pipeline.tracer_provider, pipeline.meter_provider, metric_store=store, span_tracer=lean_tracer
    )


class _NullClient:
    """An OTLP/HTTP exporter's transport that sends nothing (both pipelines get the same one)."""

    class _Sent:
        success, error, status_code = True, None, None

    def export(self, data: bytes, timeout_sec: float | None = None) -> Any:
        return self._Sent()

    def shutdown(self) -> None:
        return None


def usage_records(kwargs: dict[str, Any], config: Any, n: int, rounds: int, build_record: Any) -> dict[str, Any]:
    """One attempt's usage record, per record: the SDK's LoggerProvider, BatchLogRecordProcessor and
    OTLPLogExporter against otel-llm's wire pipeline (wire_logs.py), emitted through the same
    UsageRecordEmitter, queued, encoded in the exporter and handed to a null transport."""
    try:
        from otel_llm._export.wire_logs import WireLogExporter, WireLoggerProvider, WireLogRecordProcessor  # noqa: PLC0415
    except ImportError:  # older otel-llm: the SDK's log pipeline only
        return {}
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: PLC0415
    from opentelemetry.sdk._logs import LoggerProvider  # noqa: PLC0415
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415

    from otel_llm._emit.usage import UsageRecordEmitter  # noqa: PLC0415

    resource = Resource.create({"service.name": "litellm-proxy"})
    sized = {"max_queue_size": max(2 * n, 1024), "max_export_batch_size": 512, "schedule_delay_millis": 10_000}
    sdk_exporter = OTLPLogExporter(endpoint="http://127.0.0.1:9/v1/logs")
    wire_exporter = WireLogExporter(endpoint="http://127.0.0.1:9/v1/logs")
    sdk_exporter._client = wire_exporter._client = _NullClient()  # noqa: SLF001
    sdk = LoggerProvider(resource=resource, shutdown_on_exit=False)
    sdk.add_log_record_processor(BatchLogRecordProcessor(sdk_exporter, **sized))
    wire = WireLoggerProvider(WireLogRecordProcessor(wire_exporter, **sized), resource=resource, shutdown_on_exit=False)
    record = build_record(kwargs["standard_logging_object"], kwargs, config)
    emitters = {name: UsageRecordEmitter(p.get_logger("otel_llm", "1")) for name, p in (("sdk", sdk), ("wire", wire))}

    def flush() -> None:
        sdk.force_flush()
        wire.force_flush()

    ops = {name: (lambda emitter=emitter: emitter.emit(record, None)) for name, emitter in emitters.items()}
    measured = measure(ops, n, rounds, flush)
    sdk.shutdown()
    wire.shutdown()
    return {
        "sdk_us_per_record": measured["sdk"]["us_median"],
        "wire_us_per_record": measured["wire"]["us_median"],
        "ratio_sdk_to_wire": measured["sdk"]["us_median"] / measured["wire"]["us_median"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000, help="operations per timed block")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", type=Path, help="write a pyinstrument text profile of otel_llm here")
    args = parser.parse_args()

    pipeline = install_pipeline()
    from otel_llm import _config  # noqa: PLC0415
    from otel_llm._capture.payload import build_record  # noqa: PLC0415
    from otel_llm._emit.telemetry import Telemetry  # noqa: PLC0415

    try:
        from otel_llm._loop.guard import observe as observe_loops  # noqa: PLC0415
    except ImportError:  # older otel-llm: no loop detection

        def observe_loops(record: Any, config: Any) -> None:
            return None

    sdk_kwargs = capture_payload()
    config = _config.resolve()
    telemetry = Telemetry(config, pipeline.tracer_provider, pipeline.meter_provider)
    raw = raw_emitter(pipeline)

    def full(slo: Any, kwargs: Any) -> None:
        record = build_record(slo, kwargs, config)
        observe_loops(record, config)
        telemetry.emit(record)

    lean = _lean_telemetry(pipeline, config, Telemetry)

    def full_lean(slo: Any, kwargs: Any) -> None:
        record = build_record(slo, kwargs, config)
        observe_loops(record, config)
        lean.emit(record)

    flush = pipeline.tracer_provider.force_flush
    results: dict[str, Any] = {}
    for label, kwargs in (("sdk_payload", sdk_kwargs), ("proxy_payload", proxy_payload(sdk_kwargs))):
        slo = kwargs["standard_logging_object"]
        record = build_record(slo, kwargs, config)
        same = same_telemetry_emitter(pipeline, record, config)
        ops: dict[str, Callable[[], None]] = {
            "raw_sdk": lambda kwargs=kwargs: raw(kwargs),
            "raw_sdk_same_telemetry": same,
            "otel_llm": lambda slo=slo, kwargs=kwargs: full(slo, kwargs),
            "otel_llm_lean": lambda slo=slo, kwargs=kwargs: full_lean(slo, kwargs),
            "build_record": lambda slo=slo, kwargs=kwargs: build_record(slo, kwargs, config),
            "loop_observe": lambda record=record: observe_loops(record, config),
            # The emitters timed alone: private on purpose (this is a profile of them).
            "emit_spans": lambda record=record: telemetry._spans.emit(record),  # noqa: SLF001
            "emit_metrics": lambda record=record: telemetry._metrics.emit(record),  # noqa: SLF001
            "emit_headroom": lambda record=record: telemetry.headroom.emit(record),
        }
        measured = measure(ops, args.n, args.rounds, flush)
        measured["same_telemetry_points"] = same.points  # type: ignore[attr-defined]
        measured["ratio_otel_llm_to_raw"] = measured["otel_llm"]["us_median"] / measured["raw_sdk"]["us_median"]
        measured["ratio_otel_llm_to_same_telemetry"] = (
            measured["otel_llm"]["us_median"] / measured["raw_sdk_same_telemetry"]["us_median"]
        )
        if "otel_llm_lean" in measured:
            measured["ratio_lean_to_same_telemetry"] = (
                measured["otel_llm_lean"]["us_median"] / measured["raw_sdk_same_telemetry"]["us_median"]
            )
        results[label] = measured
    results["span_encoding"] = span_encoding(
        proxy_payload(sdk_kwargs), config, max(1, args.n // 100), args.rounds, build_record, Telemetry
    )
    results["usage_records"] = usage_records(proxy_payload(sdk_kwargs), config, args.n, args.rounds, build_record)
    if args.profile is not None:
        from pyinstrument import Profiler  # noqa: PLC0415

        kwargs = proxy_payload(sdk_kwargs)
        slo = kwargs["standard_logging_object"]
        profiler = Profiler(interval=0.0001)
        profiler.start()
        for _ in range(args.n * 4):
            full(slo, kwargs)
        profiler.stop()
        args.profile.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
