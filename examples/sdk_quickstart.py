"""SDK quickstart: set up OpenTelemetry, instrument LiteLLM, make a call.

    pip install 'otel-llm[otlp,instruments]'
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OPENAI_API_KEY=sk-... python examples/sdk_quickstart.py

Without OTEL_EXPORTER_OTLP_ENDPOINT the spans are printed to the console.
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from otel_llm import LiteLLMInstrumentor


def setup_opentelemetry() -> None:
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "otel-llm-quickstart")})
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter, metric_exporter = OTLPSpanExporter(), OTLPMetricExporter()
    else:
        span_exporter, metric_exporter = ConsoleSpanExporter(), ConsoleMetricExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=10_000)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))


def main() -> None:
    setup_opentelemetry()
    LiteLLMInstrumentor().instrument()
    model = os.environ.get("EXAMPLE_MODEL", "openai/gpt-4o-mini")
    response = litellm.completion(model=model, messages=[{"role": "user", "content": "Name one planet."}])
    print(response.choices[0].message.content)
    # No flush needed: otel-llm drains LiteLLM's callbacks and flushes the providers at exit.


if __name__ == "__main__":
    main()
