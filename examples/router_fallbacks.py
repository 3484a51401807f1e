"""A LiteLLM Router with retries and a fallback chain, instrumented by otel-llm.

Each router request is one INTERNAL parent span (``chat primary``) with a CLIENT span per
attempt; retries and fallbacks appear as span events and in the
``otel_llm.client.retries`` / ``otel_llm.client.fallbacks`` counters.

    PRIMARY_API_BASE=... BACKUP_API_BASE=... OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 \\
        python examples/router_fallbacks.py
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_llm import LiteLLMInstrumentor


def main() -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "router-example"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    LiteLLMInstrumentor().instrument()

    api_key = os.environ.get("OPENAI_API_KEY", "sk-example")
    router = litellm.Router(
        model_list=[
            {
                "model_name": "primary",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": os.environ["PRIMARY_API_BASE"],
                    "api_key": api_key,
                },
            },
            {
                "model_name": "backup",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": os.environ["BACKUP_API_BASE"],
                    "api_key": api_key,
                },
            },
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=1,
        retry_after=0,
    )
    response = router.completion(model="primary", messages=[{"role": "user", "content": "Hello, router"}])
    headers = getattr(response, "_hidden_params", {}).get("additional_headers", {})
    print("served by:", headers.get("x-litellm-model-group"))


if __name__ == "__main__":
    main()
