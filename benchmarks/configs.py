"""The configurations measured side by side, and the OpenTelemetry pipeline they all share.

Every configuration writes to the same pipeline: a TracerProvider with a BatchSpanProcessor
feeding an exporter that counts and discards, and a MeterProvider with an in-memory reader
(collected only outside measured blocks). Both are also installed as the global providers,
for the peers that only use those. The comparison is then about instrumentation, not export.

Content capture is off in every configuration (otel-llm's default; the peers that capture
content by default are configured not to), so all of them do comparable work.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult


class DiscardingExporter(SpanExporter):
    """Counts spans and drops them; keeps a few when asked (to describe what a configuration emits)."""

    def __init__(self) -> None:
        self.count = 0
        self.keep = 0
        self.kept: list[ReadableSpan] = []
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            self.count += len(spans)
            if self.keep:
                take = list(spans[: self.keep])
                self.kept.extend(take)
                self.keep -= len(take)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


@dataclass
class Pipeline:
    """The shared providers of one benchmark process."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    reader: InMemoryMetricReader
    exporter: DiscardingExporter


def install_pipeline() -> Pipeline:
    """Build the shared pipeline and install it as the global providers."""
    resource = Resource.create({"service.name": "otel-llm-bench"})
    exporter = DiscardingExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return Pipeline(tracer_provider, meter_provider, reader, exporter)


# --- the floor: one span with ~10 attributes and three metric points, raw SDK ---------------
def floor_emitter(pipeline: Pipeline) -> Callable[[Any], None]:
    """The floor's per-call work: one span with 10 attributes and three histogram points, raw SDK."""
    from opentelemetry.trace import SpanKind, Status, StatusCode  # noqa: PLC0415

    tracer = pipeline.tracer_provider.get_tracer("floor")
    meter = pipeline.meter_provider.get_meter("floor")
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
    tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")

    def emit(kwargs: Any) -> None:
        slo = kwargs.get("standard_logging_object") or {}
        start = int((slo.get("startTime") or 0) * 1e9)
        end = int((slo.get("endTime") or 0) * 1e9)
        model = slo.get("model") or "unknown"
        provider = slo.get("custom_llm_provider") or "unknown"
        failed = slo.get("status") == "failure"
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.response.id": slo.get("id") or "",
            "gen_ai.usage.input_tokens": slo.get("prompt_tokens") or 0,
            "gen_ai.usage.output_tokens": slo.get("completion_tokens") or 0,
            "gen_ai.request.stream": bool(slo.get("stream")),
            "otel_llm.usage.cost": float(slo.get("response_cost") or 0.0),
            "otel_llm.litellm.call_id": slo.get("litellm_call_id") or "",
            "otel_llm.model_group": slo.get("model_group") or "",
        }
        span = tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attrs, start_time=start)
        if failed:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)
        metric_attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
        }
        duration.record(max(0, end - start) / 1e9, metric_attrs)
        tokens.record(attrs["gen_ai.usage.input_tokens"], {**metric_attrs, "gen_ai.token.type": "input"})
        tokens.record(attrs["gen_ai.usage.output_tokens"], {**metric_attrs, "gen_ai.token.type": "output"})

    return emit


def _floor_callback(pipeline: Pipeline) -> Any:
    from litellm.integrations.custom_logger import CustomLogger  # noqa: PLC0415

    emit = floor_emitter(pipeline)

    class FloorCallback(CustomLogger):  # type: ignore[misc]
        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            emit(kwargs)

        def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            emit(kwargs)

        async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            emit(kwargs)

        async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            emit(kwargs)

    return FloorCallback()


# --- installers -----------------------------------------------------------------------------
def _uninstrumented(pipeline: Pipeline) -> None:
    return None


def _floor(pipeline: Pipeline) -> None:
    import litellm  # noqa: PLC0415

    litellm.callbacks.append(_floor_callback(pipeline))


def _otel_llm_callback(pipeline: Pipeline) -> None:
    import litellm  # noqa: PLC0415

    import otel_llm  # noqa: PLC0415

    litellm.callbacks.append(otel_llm.OtelLLMCallback())


def _otel_llm_instrumentor(pipeline: Pipeline) -> None:
    import otel_llm  # noqa: PLC0415

    otel_llm.LiteLLMInstrumentor().instrument()


def _otel_llm_lean(pipeline: Pipeline) -> None:
    """The instrumentor on otel-llm's lean path over the shared providers: what ``otel_llm.setup()``
    gives an application (its metric store is read outside the timed blocks, like the SDK's reader)."""
    import otel_llm  # noqa: PLC0415
    from otel_llm._config import resolve  # noqa: PLC0415
    from otel_llm._export.lean_spans import lean_tracer  # noqa: PLC0415
    from otel_llm._export.setup import metric_store  # noqa: PLC0415

    config = resolve()
    store = metric_store(config, os.environ)
    store.add_reader("bench")
    callback = otel_llm.OtelLLMCallback(metric_store=store, span_tracer=lean_tracer)
    otel_llm.LiteLLMInstrumentor().instrument(callback=callback)


def _litellm_otel(pipeline: Pipeline) -> None:
    import litellm  # noqa: PLC0415
    from litellm.integrations.opentelemetry import OpenTelemetry, OpenTelemetryConfig  # noqa: PLC0415

    config = OpenTelemetryConfig(enable_metrics=True, capture_message_content="NO_CONTENT")
    litellm.callbacks.append(
        OpenTelemetry(
            config=config,
            callback_name="otel",
            tracer_provider=pipeline.tracer_provider,
            meter_provider=pipeline.meter_provider,
        )
    )


def _litellm_otel_v2(pipeline: Pipeline) -> None:
    import litellm  # noqa: PLC0415
    from litellm.integrations.otel.logger import build_otel_v2_logger  # noqa: PLC0415
    from litellm.integrations.otel.model.config import OpenTelemetryV2Config, is_otel_v2_enabled  # noqa: PLC0415

    is_otel_v2_enabled.cache_clear()
    if not is_otel_v2_enabled():
        raise RuntimeError("LITELLM_OTEL_V2=true must be set before LiteLLM is imported")
    config = OpenTelemetryV2Config(enable_metrics=True)
    litellm.callbacks.append(
        build_otel_v2_logger(
            config=config,
            callback_name="otel",
            tracer_provider=pipeline.tracer_provider,
            meter_provider=pipeline.meter_provider,
        )
    )


def _openllmetry(pipeline: Pipeline) -> None:
    from opentelemetry.instrumentation.litellm import LiteLLMInstrumentor  # noqa: PLC0415

    LiteLLMInstrumentor().instrument(tracer_provider=pipeline.tracer_provider, meter_provider=pipeline.meter_provider)


def _openinference(pipeline: Pipeline) -> None:
    from openinference.instrumentation import TraceConfig  # noqa: PLC0415
    from openinference.instrumentation.litellm import LiteLLMInstrumentor  # noqa: PLC0415

    LiteLLMInstrumentor().instrument(
        tracer_provider=pipeline.tracer_provider, config=TraceConfig(hide_inputs=True, hide_outputs=True)
    )


def _openlit(pipeline: Pipeline) -> None:
    # Only OpenLIT's litellm instrumentor, on the global (shared) providers; no pricing download.
    from openlit._config import OpenlitConfig  # noqa: PLC0415
    from openlit.instrumentation.litellm import LiteLLMInstrumentor  # noqa: PLC0415
    from openlit.otel.metrics import setup_meter  # noqa: PLC0415

    metrics_dict, error = setup_meter("otel-llm-bench", "bench", None, None, None)
    if error:
        raise RuntimeError(f"openlit setup_meter failed: {error}")
    OpenlitConfig.update_config(
        "bench",
        "otel-llm-bench",
        None,
        None,
        False,
        False,
        metrics_dict,
        False,
        {},
        True,
        False,
        None,
        None,
        None,
    )
    LiteLLMInstrumentor().instrument(
        environment="bench",
        application_name="otel-llm-bench",
        tracer=pipeline.tracer_provider.get_tracer("openlit"),
        pricing_info={},
        capture_message_content=False,
        metrics_dict=metrics_dict,
        disable_metrics=False,
    )


@dataclass(frozen=True)
class Configuration:
    name: str
    label: str
    install: Callable[[Pipeline], None]
    env: tuple[tuple[str, str], ...] = ()
    needs: str | None = None  # a module that must be importable (the peers)
    kind: str = "peer"  # baseline | floor | ours | diagnosis | peer

    def available(self) -> bool:
        try:
            return self.needs is None or importlib.util.find_spec(self.needs) is not None
        except ImportError:  # the parent package is missing
            return False


CONFIGURATIONS: tuple[Configuration, ...] = (
    Configuration("uninstrumented", "uninstrumented LiteLLM", _uninstrumented, kind="baseline"),
    Configuration("floor", "floor: bare callback, raw SDK (1 span, 10 attrs, 3 points)", _floor, kind="floor"),
    Configuration("otel-llm-callback", "otel-llm callback", _otel_llm_callback, kind="ours"),
    Configuration("otel-llm-instrumentor", "otel-llm instrumentor", _otel_llm_instrumentor, kind="ours"),
    Configuration(
        "otel-llm-lean", "otel-llm instrumentor, lean path (what otel_llm.setup() gives)", _otel_llm_lean, kind="ours"
    ),
    # Diagnosis, not a target: the callback with runaway-loop detection off (OTEL_LLM_LOOP_MODE=off).
    Configuration(
        "otel-llm-callback-loop-off",
        "otel-llm callback, OTEL_LLM_LOOP_MODE=off (diagnosis)",
        _otel_llm_callback,
        env=(("OTEL_LLM_LOOP_MODE", "off"),),
        kind="diagnosis",
    ),
    Configuration("litellm-otel", "LiteLLM `otel` callback (default engine, metrics on)", _litellm_otel),
    Configuration(
        "litellm-otel-v2",
        "LiteLLM `otel` callback (LITELLM_OTEL_V2, metrics on)",
        _litellm_otel_v2,
        env=(("LITELLM_OTEL_V2", "true"),),
    ),
    Configuration(
        "openllmetry",
        "OpenLLMetry opentelemetry-instrumentation-litellm",
        _openllmetry,
        env=(("TRACELOOP_TRACE_CONTENT", "false"),),
        needs="opentelemetry.instrumentation.litellm",
    ),
    Configuration(
        "openinference",
        "OpenInference openinference-instrumentation-litellm",
        _openinference,
        needs="openinference.instrumentation.litellm",
    ),
    Configuration("openlit", "OpenLIT (litellm instrumentor only)", _openlit, needs="openlit"),
)
BY_NAME = {c.name: c for c in CONFIGURATIONS}


def prepare_environment(config: Configuration) -> None:
    """Environment every benchmark process needs, plus the configuration's own (before imports)."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "NO_CONTENT")
    for key, value in config.env:
        os.environ[key] = value
