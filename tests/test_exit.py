"""Short scripts: the last calls' telemetry is exported at interpreter exit, even on an exception."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.fakes import FakeOpenAI
from tests.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.e2e  # subprocesses: run by CI, select with -m e2e

SETUP = """
import asyncio, os, sys
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import litellm
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
import otel_llm

provider = TracerProvider()
# A long schedule: only the exit flush can deliver these spans and points in time.
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=60_000))
trace.set_tracer_provider(provider)
reader = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=600_000)
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
KW = dict(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "bye"}],
          api_base=os.environ["FAKE_API_BASE"], api_key="sk-x")
"""

SCRIPTS = {
    "callback-sync": "litellm.callbacks.append(otel_llm.OtelLLMCallback())\nlitellm.completion(**KW)\n",
    "callback-async": "litellm.callbacks.append(otel_llm.OtelLLMCallback())\nasyncio.run(litellm.acompletion(**KW))\n",
    "instrumentor-async": "otel_llm.LiteLLMInstrumentor().instrument()\nasyncio.run(litellm.acompletion(**KW))\n",
    "exits-by-exception": "litellm.callbacks.append(otel_llm.OtelLLMCallback())\nlitellm.completion(**KW)\n"
    "raise SystemExit('fatal: the app crashed')\n",
    "unhandled-exception": "otel_llm.LiteLLMInstrumentor().instrument()\nlitellm.completion(**KW)\n"
    "raise RuntimeError('unhandled')\n",
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_last_call_is_exported_at_exit(name: str, fake_openai: FakeOpenAI) -> None:
    """The script's last call reaches the OTLP receiver as a span and metric points."""
    with OtlpReceiver() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            FAKE_API_BASE=fake_openai.api_base,
            OTEL_LLM_RAISE_INTERNAL_ERRORS="true",
        )
        script = textwrap.dedent(SETUP) + SCRIPTS[name]
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert ("exception" in name or "exits" in name) == (result.returncode != 0), result.stderr[-3000:]
        assert "otel-llm: internal error" not in result.stderr
        (span,) = [s for s in receiver.spans() if s["scope"] == "otel_llm"]
        assert span["name"] == "chat gpt-4o-mini"
        assert span["attributes"]["gen_ai.usage.output_tokens"] == 5
        assert receiver.latest_points("gen_ai.client.operation.duration")
