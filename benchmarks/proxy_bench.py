"""Requests/s and latency through the real LiteLLM proxy, with and without otel-llm's callback.

Proxies (tests/proxy/harness.py ProxyProcess: custom-auth virtual keys, no database), each a
fresh process, all in front of the same fake provider (fake_provider.py); ``--variants`` picks:

* ``none``: no callback;
* ``otel-llm``: ``callbacks: ["otel_llm.proxy.callback"]``, OTLP/HTTP to a local sink that
  answers 200 (the fake provider's /v1/traces and /v1/metrics);
* ``otel-llm-process``: ``otel-llm`` with ``OTEL_LLM_PROXY_EMITTER=process`` (each attempt's spans,
  metric points and usage record made and exported by a process beside the worker);
* ``otel-llm-unreachable``: the same, with the OTLP endpoint on a closed loopback port;
* ``otel-llm-http-spans``: ``otel-llm`` with ``OTEL_LLM_PROXY_HTTP_SPANS=true`` (diagnosis: the
  opt-in provider HTTP spans);
* ``otel-llm-loop-off``: ``otel-llm`` with ``OTEL_LLM_LOOP_MODE=off`` (diagnosis);
* ``otel-llm-fastapi-full`` / ``otel-llm-fastapi-off``: ``otel-llm`` with
  ``OTEL_LLM_PROXY_FASTAPI_TELEMETRY=full`` / ``off`` (diagnosis: FastAPI's own telemetry);
* ``otel-llm-span-objects``: ``otel-llm`` with spans queued as span objects and encoded at export, as
  before ``_export/span_queue.py`` (diagnosis: what queueing encoded bytes changes);
* ``otel-llm-minimal``: ``otel-llm`` with FastAPI's telemetry, usage records and loop detection
  off (diagnosis: what the core telemetry costs without the optional pieces);
* ``noop-callback``: a ``CustomLogger`` whose hooks do nothing (the reference: what LiteLLM
  itself spends on any callback, before the callback does any work);
* ``floor``: the SDK section's floor in the proxy, a ``CustomLogger`` writing one span with 10
  attributes and three histogram points with raw SDK calls, exported over OTLP/HTTP to the same
  sink (what the least telemetry worth having costs any in-process callback);
* ``handoff`` (a prototype, measured to size a design): the worker builds otel-llm's record per
  attempt and pipes pickled batches to a child process that makes and exports otel-llm's spans,
  metric points and usage records (no live attempt span, SERVER span or trace propagation); the
  child's CPU counts in the proxy's; ``handoff-full``: the same hand-off behind otel-llm's whole
  proxy callback (live attempt spans, FastAPI's SERVER span, hooks and loop detection stay in the
  worker; only ``Telemetry.emit`` moves to the child); ``deferred``: no child, the same emit run
  32 attempts at a time on a thread of the worker (is it the batching or the other process?);
  ``inproc``: the ``handoff`` callback's capture (the record only: no live attempt span, no SERVER
  span, FastAPI's telemetry off) with loop detection and the lean ``Telemetry.emit`` in the worker
  (is it the capture side or the other process?); ``otel-llm-lean-server`` (and
  ``otel-llm-lean-server-process``, with the emitter process): otel-llm's callback with FastAPI's
  telemetry off and a SERVER layer of its own around LiteLLM's middleware stack, the SERVER span
  and both ``http.server.*`` instruments on otel-llm's lean providers (is FastAPI's layer the cost?);
* ``litellm-otel``: the peer built into the proxy, ``callbacks: ["otel"]`` (OTLP/HTTP to the same
  sink, ``LITELLM_OTEL_INTEGRATION_ENABLE_METRICS=true``).

A local asyncio load generator (aiohttp, loopback only) sends chat completions with a fixed
concurrency in short blocks (bounded by request count and by duration), interleaved across
the proxies over several rounds. Per block: requests/s, p50/p99 latency, errors, and the
proxy's RSS and CPU time per request (all threads). Telemetry counts come from a sitecustomize
in the proxy's PYTHONPATH that counts spans ended, spans exported, spans in failed exports,
metric exports and garbage-collection pauses (so dropped telemetry is counted, not guessed).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from tests.proxy.harness import BETA, PROVIDER_KEY, ProxyProcess  # noqa: E402

from _procs import FakeProvider  # noqa: E402

COUNTER = '''
"""Benchmark-only: count spans ended, exported and failed in this process (see proxy_bench.py)."""
import json, os, threading, time

_path = os.environ.get("BENCH_TELEMETRY_COUNTS")
if _path:
    counts = {"spans_ended": 0, "spans_exported": 0, "spans_export_failed": 0,
              "metric_exports": 0, "metric_exports_failed": 0,
              "gc_collections": [0, 0, 0], "gc_seconds": [0.0, 0.0, 0.0]}
    lock = threading.Lock()
    _gc_started = [0.0]

    def _gc_timer(phase, info):
        # Garbage collection pauses land on whatever request allocates: count them per generation.
        if phase == "start":
            _gc_started[0] = time.perf_counter()
        else:
            generation = info["generation"]
            counts["gc_collections"][generation] += 1
            counts["gc_seconds"][generation] += time.perf_counter() - _gc_started[0]

    def _patch():
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
        from opentelemetry.sdk.metrics.export import MetricExportResult
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        ending = threading.local()  # otel-llm's processor may fall back to the SDK's on_end: count once

        def counting_end(on_end):
            def counted_on_end(self, span):
                if getattr(ending, "active", False):
                    return on_end(self, span)
                with lock:
                    counts["spans_ended"] += 1
                ending.active = True
                try:
                    return on_end(self, span)
                finally:
                    ending.active = False
            return counted_on_end

        BatchSpanProcessor.on_end = counting_end(BatchSpanProcessor.on_end)
        try:
            from otel_llm._export.span_queue import WireSpanProcessor
        except ImportError:  # a proxy without otel-llm, or an otel-llm before it
            pass
        else:
            if os.environ.get("BENCH_QUEUE_SPAN_OBJECTS"):  # diagnosis: the queue holds the spans, as before
                WireSpanProcessor.on_end = BatchSpanProcessor.on_end
            WireSpanProcessor.on_end = counting_end(WireSpanProcessor.on_end)

        exporting = threading.local()  # otel-llm's exporter may fall back to the SDK's export: count once

        def counting(export):
            def counted_export(self, spans, *a, **k):
                if getattr(exporting, "active", False):
                    return export(self, spans, *a, **k)
                exporting.active = True
                try:
                    result = export(self, spans, *a, **k)
                finally:
                    exporting.active = False
                with lock:
                    key = "spans_exported" if result == SpanExportResult.SUCCESS else "spans_export_failed"
                    counts[key] += len(spans)
                return result
            return counted_export

        OTLPSpanExporter.export = counting(OTLPSpanExporter.export)
        try:
            from otel_llm._export.span_exporter import WireSpanExporter
        except ImportError:  # a proxy without otel-llm
            pass
        else:
            WireSpanExporter.export = counting(WireSpanExporter.export)

        def counting_metrics(mexport):  # otel-llm's metric exporter may fall back to the SDK's: count once
            def counted_mexport(self, data, *a, **k):
                if getattr(exporting, "active", False):
                    return mexport(self, data, *a, **k)
                exporting.active = True
                try:
                    result = mexport(self, data, *a, **k)
                finally:
                    exporting.active = False
                with lock:
                    counts["metric_exports" if result == MetricExportResult.SUCCESS else "metric_exports_failed"] += 1
                return result
            return counted_mexport

        OTLPMetricExporter.export = counting_metrics(OTLPMetricExporter.export)
        try:
            from otel_llm._export.metric_exporter import WireMetricExporter
        except ImportError:  # a proxy without otel-llm, or an otel-llm before it
            pass
        else:
            WireMetricExporter.export = counting_metrics(WireMetricExporter.export)

    def _dump():
        target = f"{_path}.{os.getpid()}.json"
        while True:
            time.sleep(0.5)
            with lock:
                text = json.dumps(counts)
            with open(target + ".tmp", "w") as f:
                f.write(text)
            os.replace(target + ".tmp", target)

    try:
        _patch()
        import gc
        gc.callbacks.append(_gc_timer)
        threading.Thread(target=_dump, daemon=True).start()
    except Exception as error:  # the benchmark reports missing counts
        print("bench sitecustomize failed:", repr(error))
'''


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


FORWARDING_CALLBACK = '''
"""Benchmark-only: the LiteLLM callback of the floor and the prototypes. Its two logging hooks hand
each attempt's kwargs to one function and do nothing else."""
from litellm.integrations.custom_logger import CustomLogger


class ForwardingCallback(CustomLogger):
    def __init__(self, on_attempt):
        super().__init__()
        self._on_attempt = on_attempt

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._on_attempt(kwargs)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._on_attempt(kwargs)
'''
NOOP_CALLBACK = '''
"""Benchmark-only: a LiteLLM callback with the proxy hooks otel-llm uses, doing nothing."""
from litellm.integrations.custom_logger import CustomLogger


class NoopCallback(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        return None

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        return None

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        return None

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        return None


callback = NoopCallback()
'''
FLOOR_CALLBACK = '''
"""Benchmark-only: the floor in the proxy. A CustomLogger that writes the SDK section's floor
telemetry (one span with 10 attributes, three histogram points: benchmarks/configs.py
floor_emitter) with raw OpenTelemetry SDK calls, exported as otel-llm's proxy exports (OTLP/HTTP
protobuf to the same sink, the SDK's batch processor and a 60 s periodic metric reader)."""
import importlib.util
import os
import sys

from forwarding_callback import ForwardingCallback
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_spec = importlib.util.spec_from_file_location("bench_configs", os.environ["BENCH_CONFIGS_PY"])
_configs = sys.modules["bench_configs"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_configs)
_endpoint = os.environ["BENCH_FLOOR_ENDPOINT"]
_resource = Resource.create({"service.name": "litellm-proxy-bench-floor"})
_tracer_provider = TracerProvider(resource=_resource)
_tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=_endpoint + "/v1/traces")))
_reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=_endpoint + "/v1/metrics"))
_meter_provider = MeterProvider(resource=_resource, metric_readers=[_reader])
_emit = _configs.floor_emitter(_configs.Pipeline(_tracer_provider, _meter_provider, _reader, None))


callback = ForwardingCallback(_emit)
'''
HANDOFF_PIPE = '''
"""Benchmark-only: the worker's end of the hand-off prototypes. Records are batched by 32 and
written, pickled and length-prefixed, to a child process (handoff_child.py) started by the first
batch of each worker process."""
import os
import pickle
import struct
import subprocess
import sys
import threading

_lock = threading.Lock()
_batch = []
_child = [None, None]  # (process, pid of the worker that started it)


def _pipe():
    if _child[0] is None or _child[1] != os.getpid():
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "handoff_child.py")
        _child[0] = subprocess.Popen([sys.executable, script], stdin=subprocess.PIPE)
        _child[1] = os.getpid()
    return _child[0].stdin


def send(record):
    with _lock:
        _batch.append(record)
        if len(_batch) < 32:
            return
        data = pickle.dumps(_batch, 5)
        _batch.clear()
        pipe = _pipe()
        pipe.write(struct.pack("<I", len(data)) + data)
        pipe.flush()
'''
HANDOFF_CALLBACK = '''
"""Benchmark-only prototype: otel-llm's telemetry made outside the proxy worker. The worker builds
otel-llm's record of each attempt (the real build_record) and hands batches of 32, pickled, to a
child process over a pipe; the child (handoff_child.py) makes otel-llm's spans, metric points and
usage records from them on the lean path and exports them as the proxy does. No live attempt span,
no SERVER span, no trace propagation: the worker's share of an out-of-worker design, measured."""
from handoff_pipe import send
from forwarding_callback import ForwardingCallback
from otel_llm._capture.payload import build_record
from otel_llm._config import resolve

_config = resolve()


def _hand_off(kwargs):
    slo = kwargs.get("standard_logging_object")
    if isinstance(slo, dict):
        send(build_record(slo, kwargs, _config))


callback = ForwardingCallback(_hand_off)
'''
HANDOFF_FULL_CALLBACK = '''
"""Benchmark-only prototype: otel-llm's proxy callback as it is (live attempt spans, FastAPI's
SERVER span, hooks, loop detection, trace propagation, all in the worker), except that each
finished attempt's record is piped to a child process (handoff_child.py) that makes its spans,
metric points and usage record there, instead of ``Telemetry.emit`` in the worker. The live
attempt span is left unended (a product would hand its identity over with the record)."""
import otel_llm.proxy
from handoff_pipe import send


def _emit(record, live_span=None):
    send(record)


callback = otel_llm.proxy.callback
callback.telemetry.emit = _emit
'''
DEFERRED_CALLBACK = '''
"""Benchmark-only prototype: otel-llm's proxy callback as it is, except that ``Telemetry.emit``
(spans, metric points, usage record of a finished attempt) runs later, in batches of 32, on one
background thread of the worker: the same telemetry, made in the same process, batched."""
import threading

import otel_llm.proxy

callback = otel_llm.proxy.callback
_emit_now = callback.telemetry.emit
_lock = threading.Condition()
_batch = []


def _emit(record, live_span=None):
    with _lock:
        _batch.append((record, live_span))
        if len(_batch) >= 32:
            _lock.notify()


def _drain():
    while True:
        with _lock:
            _lock.wait_for(lambda: len(_batch) >= 32)
            work = _batch[:]
            _batch.clear()
        for record, live_span in work:
            _emit_now(record, live_span)


threading.Thread(target=_drain, daemon=True, name="bench-deferred-emit").start()
callback.telemetry.emit = _emit
'''
LEAN_TELEMETRY = '''
"""Benchmark-only: otel-llm's telemetry on the lean path with the pipeline the proxy callback builds
(providers from the environment), for the prototypes that emit outside otel-llm's callback."""
from otel_llm._config import resolve
from otel_llm._emit.telemetry import Telemetry
from otel_llm._export.lean_spans import lean_tracer
from otel_llm._export.setup import install_providers


def lean_telemetry():
    """(config, pipeline, telemetry), as ProxyCallback builds them."""
    config = resolve()
    pipeline = install_providers(config)
    telemetry = Telemetry(
        config,
        headroom_meter_provider=pipeline.headroom_meter_provider,
        metric_store=pipeline.metric_store,
        flush_too=pipeline.shared_reader,
        span_tracer=lean_tracer if pipeline.metric_store is not None else None,
    )
    return config, pipeline, telemetry
'''
INPROC_CALLBACK = '''
"""Benchmark-only prototype: capture as data, emitted in the worker. What handoff_callback.py does in
the worker (build otel-llm's record of each attempt; no live attempt span, no SERVER span, no trace
propagation, FastAPI's own telemetry off), then loop detection and ``Telemetry.emit`` on the lean
path in the worker itself, exported as the proxy does: is it the capture side or the other process?"""
import os

from forwarding_callback import ForwardingCallback
from lean_telemetry import lean_telemetry
from otel_llm._capture.payload import build_record
from otel_llm._export.lean_providers import host_providers
from otel_llm._loop.guard import observe
from otel_llm._proxy.fastapi_telemetry import configure_fastapi_telemetry

_config, _pipeline, _telemetry = lean_telemetry()
# BENCH_INPROC_FASTAPI=server: FastAPI's own SERVER span and HTTP metrics on otel-llm's lean providers.
_fastapi = os.environ.get("BENCH_INPROC_FASTAPI", "off")
configure_fastapi_telemetry(_fastapi, providers=host_providers(_pipeline.metric_store))


def _emit(kwargs):
    slo = kwargs.get("standard_logging_object")
    if isinstance(slo, dict):
        record = build_record(slo, kwargs, _config)
        observe(record, _config)
        _telemetry.emit(record)


callback = ForwardingCallback(_emit)
'''
HANDOFF_CHILD = '''
"""Benchmark-only: the child of handoff_callback.py. Reads pickled batches of otel-llm records from
stdin and emits each on otel-llm's lean path (spans, metric points, usage records, loop detection),
exported as the proxy exports them, until the worker closes the pipe."""
import pickle
import struct
import sys

from lean_telemetry import lean_telemetry
from otel_llm._loop.guard import observe

config, _pipeline, telemetry = lean_telemetry()
stream = sys.stdin.buffer
while True:
    header = stream.read(4)
    if len(header) < 4:
        break
    (size,) = struct.unpack("<I", header)
    for record in pickle.loads(stream.read(size)):
        observe(record, config)
        telemetry.emit(record)
telemetry.force_flush(10_000)
'''
OTEL_LLM_CALLBACK = "otel_llm.proxy.callback"


LEAN_SERVER_CALLBACK = '''
"""Benchmark-only prototype: otel-llm's proxy callback with lean_server_layer.py's SERVER layer."""
from lean_server_layer import install

from otel_llm._proxy.callback import ProxyCallback

callback = ProxyCallback()
install(callback)
'''


def proxy_config(api_base: str, callbacks: bool | str) -> dict[str, Any]:
    """``callbacks``: True for otel-llm's, a ``module.attribute`` path for another, False for none."""
    callback = OTEL_LLM_CALLBACK if callbacks is True else callbacks
    return {
        "model_list": [
            {
                "model_name": "gpt-main",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": api_base, "api_key": PROVIDER_KEY},
            }
        ],
        "litellm_settings": {"callbacks": [callback]} if callback else {},
        "general_settings": {"custom_auth": "auth.user_api_key_auth"},
    }


def _tree(pid: int) -> set[int]:
    """A process and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        children = [child for child, parent in parents.items() if parent == current and child not in tree]
        tree.update(children)
        frontier.extend(children)
    return tree


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants, all threads (from /proc)."""
    ticks = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants (from /proc), in MiB."""
    total_kb = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


def request_body(stream_chunks: int) -> dict[str, Any]:
    """A plain chat request, or (``stream_chunks`` > 0) a streamed one answered in that many chunks."""
    body: dict[str, Any] = {"model": "gpt-main", "messages": [{"role": "user", "content": "hello proxy benchmark"}]}
    if stream_chunks > 0:
        body.update(stream=True, stream_options={"include_usage": True}, max_tokens=stream_chunks)
    return body


async def load(url: str, requests: int, duration: float, concurrency: int, stream_chunks: int = 0) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.monotonic() + duration
    body = request_body(stream_chunks)
    # The "beta" key: alias, team, budget and spend, and no rpm/tpm limit (alpha's 1000 rpm would 429).
    headers = {"Authorization": f"Bearer {BETA}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> None:
            nonlocal sent, errors
            while sent < requests and time.monotonic() < deadline:
                sent += 1
                t0 = time.perf_counter()
                try:
                    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as response:
                        content = await response.read()
                        # A streamed answer must really arrive in its chunks (plus finish, usage, [DONE]).
                        if response.status != 200 or content.count(b"data: ") < stream_chunks:
                            errors += 1
                            continue
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000 if latencies else float("nan")

    return {
        "ok": len(latencies),
        "errors": errors,
        "elapsed_s": elapsed,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
    }


def read_counts(prefix: Path) -> dict[str, Any]:
    """Sum the counters every proxy process wrote (numbers, or per-GC-generation lists)."""
    totals: dict[str, Any] = {}
    for path in prefix.parent.glob(prefix.name + ".*.json"):
        with contextlib.suppress(ValueError, OSError, TypeError):
            for key, value in json.loads(path.read_text()).items():
                if isinstance(value, list):
                    previous = totals.get(key) or [0] * len(value)
                    totals[key] = [round(a + b, 3) for a, b in zip(previous, value, strict=False)]
                else:
                    totals[key] = totals.get(key, 0) + int(value)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=3000, help="most requests per block")
    parser.add_argument("--duration", type=float, default=10.0, help="most seconds per block")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--stream-chunks", type=int, default=0, help="stream every response in this many chunks (0: not streamed)"
    )
    parser.add_argument("--warmup", type=int, default=200, help="requests per proxy before measuring")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds to wait for exports at the end")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument(
        "--variants",
        default=(
            "none,noop-callback,floor,otel-llm,otel-llm-process,otel-llm-sdk-path,otel-llm-unreachable,litellm-otel,"
            "otel-llm-http-spans,otel-llm-fastapi-off,otel-llm-loop-off,otel-llm-router-span,otel-llm-export-none,"
            "otel-llm-batch-512,otel-llm-sdk-encoder,otel-llm-usage-off,otel-llm-minimal"
        ),
    )
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="otel-llm-proxy-bench-"))
    fake = FakeProvider(sys.executable)
    proxies: dict[str, ProxyProcess] = {}
    counts_prefix: dict[str, Path] = {}
    try:
        api_base = f"{fake.url}/v1"

        def otel_llm(**env: str) -> tuple[bool, dict[str, str]]:
            """otel-llm exporting to the fake provider's OTLP sink, with ``env`` on top."""
            return True, {"OTEL_EXPORTER_OTLP_ENDPOINT": fake.url, **env}

        variants = {
            "none": (False, {}),
            "otel-llm": otel_llm(),
            "otel-llm-unreachable": otel_llm(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port()}"),
            # Diagnoses: the opt-in provider HTTP client spans; a Router span of its own per request
            # (the default folds it into the SERVER span); the SDK's default 512-span export batches
            # (otel-llm's proxy default is 64); the SDK's span encoder instead of otel-llm's; no loop
            # detection; FastAPI's own telemetry in full (operation spans) or off (otel-llm's SERVER span).
            "otel-llm-http-spans": otel_llm(OTEL_LLM_PROXY_HTTP_SPANS="true"),
            # The OpenTelemetry SDK's instruments and spans instead of otel-llm's lean recording path.
            "otel-llm-sdk-path": otel_llm(OTEL_LLM_LEAN_PATH="false"),
            # Each attempt's telemetry made and exported by a process beside the worker (its CPU counts:
            # it is in the proxy's process tree).
            "otel-llm-process": otel_llm(OTEL_LLM_PROXY_EMITTER="process"),
            # No usage record (one OTLP log record per attempt, through the SDK's log pipeline).
            "otel-llm-usage-off": otel_llm(OTEL_LLM_USAGE_RECORDS="false"),
            "otel-llm-router-span": otel_llm(OTEL_LLM_PROXY_ROUTER_SPAN="true"),
            "otel-llm-batch-512": otel_llm(OTEL_BSP_MAX_EXPORT_BATCH_SIZE="512"),
            "otel-llm-sdk-encoder": otel_llm(OTEL_LLM_PROXY_SPAN_ENCODER="sdk"),
            # Spans queued as span objects and encoded at export (before span_queue.py), not as bytes.
            "otel-llm-span-objects": otel_llm(BENCH_QUEUE_SPAN_OBJECTS="1"),
            "otel-llm-loop-off": otel_llm(OTEL_LLM_LOOP_MODE="off"),
            "otel-llm-fastapi-full": otel_llm(OTEL_LLM_PROXY_FASTAPI_TELEMETRY="full"),
            "otel-llm-fastapi-off": otel_llm(OTEL_LLM_PROXY_FASTAPI_TELEMETRY="off"),
            # Every optional piece off at once: no FastAPI telemetry (otel-llm's own SERVER span per
            # LLM request instead), no usage records, no loop detection. What the least otel-llm costs.
            "otel-llm-minimal": otel_llm(
                OTEL_LLM_PROXY_FASTAPI_TELEMETRY="off", OTEL_LLM_USAGE_RECORDS="false", OTEL_LLM_LOOP_MODE="off"
            ),
            # Diagnosis: every span and metric point made, none exported (no processor, no reader).
            "otel-llm-export-none": (True, {"OTEL_LLM_EXPORTER": "none"}),
            "noop-callback": ("noop_callback.callback", {}),
            # Prototype of an out-of-worker design: the worker builds records and pipes them to a
            # child process that makes and exports otel-llm's telemetry (CPU counted: the child is in
            # the proxy's process tree).
            "handoff": ("handoff_callback.callback", {"OTEL_EXPORTER_OTLP_ENDPOINT": fake.url}),
            # The same hand-off behind otel-llm's whole proxy callback (capture stays in the worker).
            "handoff-full": ("handoff_full.callback", {"OTEL_EXPORTER_OTLP_ENDPOINT": fake.url}),
            # Batching without a process: the same emit, 32 attempts at a time, on a worker thread.
            "deferred": ("deferred_emit.callback", {"OTEL_EXPORTER_OTLP_ENDPOINT": fake.url}),
            # The hand-off callback's capture, emitted in the worker: the capture side without the child.
            "inproc": ("inproc_emit.callback", {"OTEL_EXPORTER_OTLP_ENDPOINT": fake.url}),
            # The same with FastAPI's SERVER span and HTTP metrics (on otel-llm's lean providers).
            "inproc-server": (
                "inproc_emit.callback",
                {"OTEL_EXPORTER_OTLP_ENDPOINT": fake.url, "BENCH_INPROC_FASTAPI": "server"},
            ),
            # Prototype: otel-llm with a SERVER layer of its own instead of FastAPI's native telemetry.
            "otel-llm-lean-server": (
                "lean_server.callback",
                {"OTEL_EXPORTER_OTLP_ENDPOINT": fake.url, "OTEL_LLM_PROXY_FASTAPI_TELEMETRY": "off"},
            ),
            "otel-llm-lean-server-process": (
                "lean_server.callback",
                {
                    "OTEL_EXPORTER_OTLP_ENDPOINT": fake.url,
                    "OTEL_LLM_PROXY_FASTAPI_TELEMETRY": "off",
                    "OTEL_LLM_PROXY_EMITTER": "process",
                },
            ),
            # The floor of the SDK section, in the proxy: 1 span, 10 attributes, 3 histogram points.
            "floor": (
                "floor_callback.callback",
                {"BENCH_FLOOR_ENDPOINT": fake.url, "BENCH_CONFIGS_PY": str(HERE / "configs.py")},
            ),
            # The peer built into the proxy: LiteLLM's own `otel` callback, traces and metrics, same sink.
            "litellm-otel": (
                "otel",
                {
                    "OTEL_EXPORTER": "otlp_http",
                    "OTEL_ENDPOINT": f"{fake.url}/v1/traces",
                    "LITELLM_OTEL_INTEGRATION_ENABLE_METRICS": "true",
                },
            ),
        }
        wanted = args.variants.split(",")
        variants = {name: value for name, value in variants.items() if name in wanted or name == "none"}
        for name, (callbacks, env) in variants.items():
            directory = workdir / name
            directory.mkdir(parents=True, exist_ok=True)
            for stale in directory.glob("telemetry-counts.*"):  # a reused --workdir: earlier runs' counts
                stale.unlink()
            (directory / "sitecustomize.py").write_text(COUNTER)
            (directory / "noop_callback.py").write_text(NOOP_CALLBACK)
            (directory / "forwarding_callback.py").write_text(FORWARDING_CALLBACK)
            (directory / "lean_telemetry.py").write_text(LEAN_TELEMETRY)
            (directory / "floor_callback.py").write_text(FLOOR_CALLBACK)
            (directory / "handoff_pipe.py").write_text(HANDOFF_PIPE)
            (directory / "handoff_callback.py").write_text(HANDOFF_CALLBACK)
            (directory / "handoff_child.py").write_text(HANDOFF_CHILD)
            (directory / "handoff_full.py").write_text(HANDOFF_FULL_CALLBACK)
            (directory / "deferred_emit.py").write_text(DEFERRED_CALLBACK)
            (directory / "inproc_emit.py").write_text(INPROC_CALLBACK)
            (directory / "lean_server.py").write_text(LEAN_SERVER_CALLBACK)
            (directory / "lean_server_layer.py").write_text((HERE / "lean_server_layer.py").read_text())
            config_file = directory / "bench-config.yaml"
            config_file.write_text(yaml.safe_dump(proxy_config(api_base, callbacks)))
            counts_prefix[name] = directory / "telemetry-counts"
            proxy_env = {
                "OTEL_LLM_RAISE_INTERNAL_ERRORS": "false",
                # The SDK defaults (the harness shortens them for tests).
                "OTEL_BSP_SCHEDULE_DELAY": "5000",
                "OTEL_METRIC_EXPORT_INTERVAL": "60000",
                "OTEL_SERVICE_NAME": "litellm-proxy-bench",
                "OTEL_LLM_KEY_HASH_SALT": "bench-salt",
                "BENCH_TELEMETRY_COUNTS": str(counts_prefix[name]),
                **env,
            }
            proxies[name] = ProxyProcess(directory, [], proxy_env, config_file=config_file)
        started = time.monotonic()
        with ThreadPoolExecutor(len(proxies)) as pool:  # start them side by side
            list(pool.map(lambda proxy: proxy.start(timeout=180), proxies.values()))
        startup_s = time.monotonic() - started
        rss_start: dict[str, float] = {}
        for name, proxy in proxies.items():
            asyncio.run(load(proxy.url, args.warmup, 60.0, args.concurrency, args.stream_chunks))
            rss_start[name] = tree_rss_mb(proxy.process.pid)  # type: ignore[union-attr]
        blocks: dict[str, list[dict[str, Any]]] = {name: [] for name in proxies}
        names = list(proxies)
        for round_index in range(args.rounds):
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            for name in order:
                proxy = proxies[name]
                cpu_before = tree_cpu_s(proxy.process.pid)  # type: ignore[union-attr]
                block_load = load(proxy.url, args.requests, args.duration, args.concurrency, args.stream_chunks)
                result = asyncio.run(block_load)
                cpu = tree_cpu_s(proxy.process.pid) - cpu_before  # type: ignore[union-attr]
                result["cpu_ms_per_request"] = 1000 * cpu / result["ok"] if result["ok"] else None
                result["round"] = round_index
                result["rss_mb"] = tree_rss_mb(proxy.process.pid)  # type: ignore[union-attr]
                blocks[name].append(result)
                print(json.dumps({"proxy": name, **result}), file=sys.stderr, flush=True)
        time.sleep(args.settle)
        summary: dict[str, Any] = {}
        for name in names:
            runs = blocks[name]
            baseline = blocks["none"]
            ratios = [run["rps"] / base["rps"] for run, base in zip(runs, baseline, strict=True) if base["rps"]]
            summary[name] = {
                "blocks": runs,
                "rps_median": statistics.median(r["rps"] for r in runs),
                "p50_ms_median": statistics.median(r["p50_ms"] for r in runs),
                "p99_ms_median": statistics.median(r["p99_ms"] for r in runs),
                "cpu_ms_per_request_median": statistics.median(r["cpu_ms_per_request"] or 0.0 for r in runs),
                "errors": sum(r["errors"] for r in runs),
                "requests": sum(r["ok"] for r in runs) + args.warmup,
                "rps_ratio_median": statistics.median(ratios) if ratios else None,
                "rps_ratio_min": min(ratios) if ratios else None,
                "rps_ratio_max": max(ratios) if ratios else None,
                "rss_start_mb": rss_start[name],
                "rss_end_mb": runs[-1]["rss_mb"],
                "telemetry": read_counts(counts_prefix[name]),
            }
        print(
            json.dumps(
                {
                    "startup_s": startup_s,
                    "concurrency": args.concurrency,
                    "stream_chunks": args.stream_chunks,
                    "proxies": summary,
                }
            )
        )
    finally:
        for proxy in proxies.values():
            with contextlib.suppress(Exception):
                proxy.stop()
        fake.stop()


if __name__ == "__main__":
    main()
