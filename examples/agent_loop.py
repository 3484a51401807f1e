"""An agent stuck in a tool loop, caught by otel-llm's loop guard.

The agent keeps calling the same search tool and getting "no results", its history
growing every turn. With OTEL_LLM_LOOP_MODE=block, otel-llm refuses the call that follows
the detection with LoopBlockedError, saying why and for how long; the detection is also a
span event (otel_llm.loop.detected) and a count in otel_llm.loop.detections. (LiteLLM
reports a call just after it returns, so the guard acts from the next call that starts
after that report.)

    python examples/agent_loop.py          # no network needed: LiteLLM's mock responses
"""

import os
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OTEL_LLM_LOOP_MODE", "block")

import litellm
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_llm import LiteLLMInstrumentor, LoopBlockedError


def setup_opentelemetry() -> None:
    tracer_provider = TracerProvider()
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        metrics.set_meter_provider(MeterProvider(metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())]))
    trace.set_tracer_provider(tracer_provider)


def main() -> None:
    setup_opentelemetry()
    LiteLLMInstrumentor().instrument()
    history: list[dict[str, object]] = [{"role": "user", "content": "What was last quarter's revenue?"}]
    for step in range(1, 31):
        try:
            litellm.completion(model="openai/gpt-4o-mini", messages=history, mock_response="Let me search again.")
        except LoopBlockedError as stopped:
            print(f"call {step} refused: {stopped}")
            print(f"the loop was stopped after {step - 1} calls")
            return
        time.sleep(0.02)  # the agent runs its search tool between LLM calls
        call = {
            "id": f"call_{step}",
            "type": "function",
            "function": {"name": "search", "arguments": '{"q": "revenue"}'},
        }
        history += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{step}", "content": "no results"},
        ]
    print("the loop was never stopped")


if __name__ == "__main__":
    main()
