"""A long-lived worker that runs ``asyncio.run(litellm.acompletion(...))`` once per job.

LiteLLM queues a call's async report on the loop that ``asyncio.run`` then closes: before
otel-llm ran that queue as the loop closes, every job's telemetry waited for interpreter exit
(lost on a SIGKILL, a freeze or a scale-down). Here a real worker process runs a plain, a
streamed, an embeddings and a Router-fallback job, on asyncio and on uvloop, with the
instrumentor and with the callback alone, and waits after each job: the job's spans and metric
points must reach a real OTLP receiver before the next job starts, exactly once (the exit flush
adds nothing).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from typing import IO

import pytest

from tests.conftest import wait_for
from tests.fakes import fake_providers
from tests.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.e2e  # subprocesses: run by CI, select with -m e2e

WORKER = """
import asyncio, os, sys, time
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

tp = TracerProvider()
tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=100))
mp = MeterProvider(metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=200)])
if os.environ["MODE"] == "instrumentor":
    otel_llm.LiteLLMInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
else:
    litellm.callbacks.append(otel_llm.OtelLLMCallback(tracer_provider=tp, meter_provider=mp))
BASE, BROKEN = os.environ["FAKE_API_BASE"], os.environ["BROKEN_API_BASE"]
MESSAGES = [{"role": "user", "content": "one two three"}]
KW = dict(model="openai/gpt-4o-mini", messages=MESSAGES, api_base=BASE, api_key="sk-x")
def deployment(group, base):
    return {"model_name": group, "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": base, "api_key": "sk-a"}}

router = litellm.Router(
    model_list=[deployment("primary", BROKEN), deployment("backup", BASE)],
    fallbacks=[{"primary": ["backup"]}], num_retries=0, retry_after=0,
)

async def plain():
    await litellm.acompletion(**KW)

async def streamed():
    stream = await litellm.acompletion(**KW, stream=True, stream_options={"include_usage": True})
    async for _ in stream:
        pass

async def embeddings():
    await litellm.aembedding(model="openai/text-embedding-3-small", input=["one two"], api_base=BASE, api_key="sk-x")

async def fallback():
    await router.acompletion(model="primary", messages=MESSAGES)

if os.environ["LOOP"] == "uvloop":
    import uvloop
    run = uvloop.run
else:
    run = asyncio.run
for job in sys.argv[1:]:
    started = time.monotonic()
    run(globals()[job]())
    print(f"done {job} {(time.monotonic() - started) * 1000:.1f} {time.time()}", flush=True)
    sys.stdin.readline()  # the test says when the next job starts
"""

JOBS = ("plain", "streamed", "embeddings", "fallback")
# otel_llm spans each job adds, by name: an attempt each, and the Router's request span (instrumentor).
SPANS = {
    "plain": ["chat gpt-4o-mini"],
    "streamed": ["chat gpt-4o-mini"],
    "embeddings": ["embeddings text-embedding-3-small"],
    "fallback": ["chat gpt-4o-mini", "chat gpt-4o-mini"],
}
ROUTER_SPAN = "chat primary"


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _durations(receiver: OtlpReceiver) -> int:
    return sum(point.count for _, point, _ in receiver.latest_points("gen_ai.client.operation.duration"))


def _input_token_points(receiver: OtlpReceiver) -> int:
    points = receiver.latest_points("gen_ai.client.token.usage")
    return sum(point.count for attributes, point, _ in points if attributes["gen_ai.token.type"] == "input")


def _fallbacks(receiver: OtlpReceiver) -> int:
    return sum(int(point.as_int) for _, point, _ in receiver.latest_points("otel_llm.client.fallbacks"))


def _span_names(receiver: OtlpReceiver) -> Counter[str]:
    return Counter(span["name"] for span in receiver.spans() if span["scope"] == "otel_llm")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("mode", ["instrumentor", "callback"])
def test_each_job_is_exported_before_the_next(mode: str, loop: str) -> None:
    """Every job's spans, duration and token points reach the receiver while the worker waits, once."""
    with fake_providers() as (fake, broken), OtlpReceiver() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            FAKE_API_BASE=fake.api_base,
            BROKEN_API_BASE=broken.api_base,
            OTEL_LLM_RAISE_INTERNAL_ERRORS="true",
            OTEL_LLM_CALLBACK_TIMEOUT="60",  # far above every wait here: no sweep delivers anything
            MODE=mode,
            LOOP=loop,
        )
        worker = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WORKER), *JOBS],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert worker.stdin is not None and worker.stdout is not None and worker.stderr is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_lines, args=(worker.stdout, lines), daemon=True).start()
        errors: list[str] = []
        threading.Thread(target=lambda: errors.extend(worker.stderr or ()), daemon=True).start()
        expected: Counter[str] = Counter()
        attempts = 0
        latencies: list[float] = []
        try:
            for job in JOBS:
                try:
                    done = lines.get(timeout=90)
                except queue.Empty:
                    pytest.fail(f"job {job} did not finish: {''.join(errors)[-3000:]}")
                assert done.startswith(f"done {job} "), done
                finished_at = float(done.split()[3])
                expected.update(SPANS[job])
                if mode == "instrumentor" and job == "fallback":
                    expected[ROUTER_SPAN] += 1
                attempts += len(SPANS[job])
                wanted = dict(expected)
                wait_for(
                    lambda: _span_names(receiver) == wanted and _durations(receiver) == attempts,  # noqa: B023
                    timeout=10,
                    message=f"{mode}/{loop}: job {job}'s telemetry before the next job",
                )
                latencies.append(time.time() - finished_at)
                assert _input_token_points(receiver) == attempts - (job == "fallback")  # the failed attempt has none
                if job == "fallback":
                    wait_for(lambda: _fallbacks(receiver) == 1, timeout=10, message="the fallback counted")
                worker.stdin.write("next\n")
                worker.stdin.flush()
            assert worker.wait(timeout=60) == 0, "".join(errors)[-3000:]
        finally:
            if worker.poll() is None:
                worker.kill()
        assert "otel-llm: internal error" not in "".join(errors)
        # Exactly once: the exit flush found nothing left to deliver a second time.
        assert _span_names(receiver) == expected
        assert _durations(receiver) == attempts
        # LiteLLM's own report completed each attempt (usage, cost), not a fallback from the wrapper.
        for span in receiver.spans():
            attributes = span["attributes"]
            assert "otel_llm.span.incomplete" not in attributes, span["name"]
            if span["name"] != ROUTER_SPAN and "error.type" not in attributes:
                assert attributes["gen_ai.usage.input_tokens"] > 0, span["name"]
                assert attributes["otel_llm.usage.cost"] > 0, span["name"]
        print(f"{mode}/{loop}: delivered {max(latencies) * 1000:.0f} ms after the job at most")
