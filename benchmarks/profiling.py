"""Where the time goes: py-spy profiles (all threads) of the SDK callback path and of the proxy.

  python benchmarks/profiling.py sdk [--config otel-llm-callback] [--calls 3000]
  python benchmarks/profiling.py proxy [--seconds 20] [--no-callback]
  python benchmarks/profiling.py timers [--seconds 20] [--no-callback] [--promotions]
  (proxy and timers: ``--env NAME=VALUE`` for a proxy setting, e.g. OTEL_LLM_PROXY_EMITTER=process)

Run it with benchmarks/.venv/bin/python (py-spy is installed there). ``sdk`` runs mock
``litellm.completion`` calls in a loop under one configuration (sdk_worker.py's setup) and
samples every thread (LiteLLM runs callbacks on its logging threads); ``proxy`` starts the
real proxy with otel-llm's callback (proxy_bench.py's setup) and samples it under load.
Both write the collapsed stacks to benchmarks/results/profile-<mode>.folded and print, as
JSON, the share of samples spent in otel-llm, in the OpenTelemetry SDK and in each of the
hottest otel-llm functions (inclusive). ``timers`` runs the same proxy with a sitecustomize that
wraps otel-llm's entry points and the SDK calls it (and FastAPI) make, and prints the thread CPU
time per request spent in each (inclusive, so nested rows overlap), and in the garbage collector
by generation, next to the proxy's total CPU per request; with ``--no-callback`` only the
collector, for the baseline; ``--promotions`` also counts the objects per request that survive
into the oldest generation (what brings LiteLLM's ~300 ms full collections closer).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _procs import bench_env  # noqa: E402

SDK_LOOP = """
import sys, time
sys.path.insert(0, {here!r})
from sdk_worker import Worker
worker = Worker({config!r}, "http://127.0.0.1:9")
call = worker.sync_call("mock", {scenario!r})
for _ in range(200):
    call()
time.sleep(0.5)
for _ in range({calls}):
    call()
worker.loop.run_until_complete(worker._drain(None))
"""


TIMERS = '''
"""Benchmark-only (profiling.py timers): thread CPU time spent in telemetry functions, per function."""
import gc, importlib, inspect, json, os, sys, threading, time, types

TARGETS = (
    ("otel_llm.callback", "OtelLLMCallback", "_report"),
    ("otel_llm.callback", None, "build_record"),
    ("otel_llm.callback", None, "observe_loop_once"),
    ("otel_llm.callback", None, "finish"),
    ("otel_llm._proxy.callback", "ProxyCallback", "_start_request"),
    ("otel_llm._capture.patches", None, "_begin_attempt"),
    ("otel_llm._capture.patches", None, "_attempt_returned"),
    ("otel_llm._capture.patches", None, "_finish_router"),
    ("otel_llm._capture.live", "LiveCall", "mark_chunk"),
    ("otel_llm._emit.telemetry", "Telemetry", "emit"),
    ("otel_llm._emit.telemetry", "Telemetry", "start_router_span"),
    ("otel_llm._emit.telemetry", "Telemetry", "start_attempt_span"),
    ("otel_llm._emit.spans", "SpanEmitter", "emit"),
    ("otel_llm._emit.metrics", "MetricEmitter", "emit"),
    ("otel_llm._emit.headroom", "HeadroomEmitter", "emit"),
    ("opentelemetry.sdk.trace", "Tracer", "start_span"),
    ("opentelemetry.sdk.trace", "Span", "end"),
    ("opentelemetry.sdk.metrics._internal.instrument", "_Histogram", "record"),
    ("opentelemetry.sdk.metrics._internal.instrument", "_Counter", "add"),
    ("opentelemetry.sdk.metrics._internal.instrument", "_UpDownCounter", "add"),
    ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "OTLPSpanExporter", "export"),
    ("otel_llm._export.span_exporter", "WireSpanExporter", "export"),
    ("opentelemetry.propagate", None, "extract"),
    # The lean path (issue #22): otel-llm's spans, metric store and usage records.
    ("otel_llm._export.lean_spans", "LeanTracer", "start_span"),
    ("otel_llm._export.lean_spans", "LeanSpan", "end"),
    ("otel_llm._emit.store", "Instrument", "record"),
    ("otel_llm._emit.store", "Instrument", "add"),
    ("otel_llm._emit.usage", "UsageRecordEmitter", "emit"),
    ("otel_llm._proxy.callback", "ProxyCallback", "async_pre_call_hook"),
    ("otel_llm._proxy.callback", "ProxyCallback", "async_post_call_success_hook"),
    ("opentelemetry.sdk._logs._internal", "Logger", "emit"),
    ("otel_llm._export.wire_logs", "LeanLogger", "emit"),
    ("otel_llm._export.wire_logs", "WireLogExporter", "export"),
    ("opentelemetry.exporter.otlp.proto.http._log_exporter", "OTLPLogExporter", "export"),
    ("opentelemetry.exporter.otlp.proto.http.metric_exporter", "OTLPMetricExporter", "export"),
)
totals, counts, objects, lock = {}, {}, {}, threading.Lock()


def _timed(original, label):
    def timed(*args, **kwargs):
        started = time.thread_time_ns()
        try:
            return original(*args, **kwargs)
        finally:
            spent = time.thread_time_ns() - started
            name = getattr(args[0], "name", None) if args and label.endswith((".record", ".add")) else None
            key = f"{label} ({name})" if isinstance(name, str) else label
            with lock:
                totals[key] = totals.get(key, 0) + spent
                counts[key] = counts.get(key, 0) + 1
    return timed


def _install():
    for module_name, class_name, function in TARGETS:
        module = importlib.import_module(module_name)
        owner = getattr(module, class_name) if class_name else module
        try:
            static = inspect.getattr_static(owner, function)
        except AttributeError:  # renamed since: say so in the results instead of timing nothing
            with lock:
                totals[f"MISSING {module_name}.{class_name or ''}.{function}"] = 0
            continue
        label = f"{module_name.rsplit('.', 1)[-1]}.{class_name + '.' if class_name else ''}{function}"
        if isinstance(static, staticmethod):
            setattr(owner, function, staticmethod(_timed(static.__func__, label)))
        else:
            setattr(owner, function, _timed(getattr(owner, function), label))


_gc_started = [0]


_counting = [False]  # the promoted-types histogram: once the timers are installed
_young = [0]  # objects in the two young generations when a generation-1 collection started


def _label(o):
    """What an object in a young generation is, for the promoted-types histogram (bounded detail)."""
    kind = type(o)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if kind is dict:
        first = next(iter(o), None) if len(o) else None
        return f"dict[{first!r:.40}...]" if isinstance(first, str) else f"dict({len(o)})"
    # Tuples and lists by length only: one being filled can be tracked with empty slots, and
    # reading those inside a collection would crash the process.
    if kind is tuple:
        return f"tuple({len(o)})"
    if kind is list:
        return "list"
    # Only exact kinds whose code is a plain field: reading attributes of arbitrary objects inside a
    # collection can run their code on half-built objects (and crashed the proxy).
    code = o.__code__ if kind is types.FunctionType else o.cr_code if kind is types.CoroutineType else None
    if code is not None:
        return f"{name} {code.co_qualname} ({code.co_filename.rsplit('/', 2)[-2]})"
    return name


def _count_types(young):
    for o in young:
        try:
            key = "type " + _label(o)
        except Exception:  # an object whose attributes raise: its type alone
            key = "type " + type(o).__qualname__
        objects[key] = objects.get(key, 0) + 1


def _gc_timed(phase, info):
    # The collector holds the GIL, so its wall time is the process's time in it.
    promotions = os.environ.get("BENCH_TIMERS_PROMOTIONS") and info["generation"] == 1
    if phase == "start":
        if promotions:
            # A generation-1 collection moves every survivor of both young generations to the
            # oldest one: what it promotes is what they held minus what it frees. (CPython counts
            # the same number towards its next full collection, promoted objects that die soon
            # after included.)
            young = gc.get_objects(0) + gc.get_objects(1)
            _young[0] = len(young)
            if os.environ.get("BENCH_TIMERS_PROMOTED_TYPES") and _counting[0]:
                _count_types(young)
            del young
        _gc_started[0] = time.perf_counter_ns()
        return
    key = f"gc.collect (generation {info['generation']})"
    spent = time.perf_counter_ns() - _gc_started[0]
    # No lock: a collection can start in a thread that holds it (the writer's), and collections
    # never overlap; the writer copies these dicts.
    totals[key] = totals.get(key, 0) + spent
    counts[key] = counts.get(key, 0) + 1
    if promotions:
        objects["promoted"] = objects.get("promoted", 0) + max(0, _young[0] - info["collected"])


def _run():
    gc.callbacks.append(_gc_timed)
    if not os.environ.get("BENCH_TIMERS_GC_ONLY"):
        # After the proxy loaded otel-llm's callback (it imports these modules), not before.
        while not {"otel_llm._proxy.callback", "otel_llm._capture.patches"} <= set(sys.modules):
            time.sleep(0.2)
        time.sleep(1)
        _install()
    # From here on (at once without the callback): the harness subtracts what was counted before
    # its measured load, so both runs count the same window.
    _counting[0] = True
    path = os.environ["BENCH_TIMERS"] + f".{os.getpid()}.json"
    while True:
        time.sleep(0.5)
        with lock:
            # Copies: the collector callback adds kinds to `objects` from whichever thread it runs in.
            text = json.dumps({"ns": dict(totals), "calls": dict(counts), "objects": dict(objects)})
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)


if os.environ.get("BENCH_TIMERS"):
    threading.Thread(target=_run, daemon=True).start()
'''


PY_SPY = str(Path(sys.executable).parent / "py-spy") if (Path(sys.executable).parent / "py-spy").exists() else "py-spy"
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py", "Condition.wait (threading.py", "select (selectors.py")


def _frame(frame: str) -> str:
    """A frame without its line number: ``function (file)``."""
    head, _, _ = frame.rpartition(":")
    return head + ")" if head else frame


def summarize(folded: Path, top: int = 25) -> dict[str, object]:
    """Busy samples (idle pool threads excluded) and the inclusive share of otel-llm functions."""
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    in_otel_llm = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";")]
        if not frames or frames[-1].startswith(IDLE_LEAVES):
            continue
        count = int(count_text)
        total += count
        if any("otel_llm/" in f for f in frames):
            in_otel_llm += count
        for frame in set(frames):
            if "otel_llm/" in frame:
                inclusive[frame] += count
    return {
        "busy_samples": total,
        "share_in_otel_llm": round(in_otel_llm / total, 4) if total else 0.0,
        "otel_llm_functions_inclusive_share": {f: round(c / total, 4) for f, c in inclusive.most_common(top)},
    }


def profile_sdk(args: argparse.Namespace) -> Path:
    out = HERE / "results" / f"profile-sdk-{args.config}-{args.scenario}.folded"
    out.parent.mkdir(parents=True, exist_ok=True)
    script = SDK_LOOP.format(here=str(HERE), config=args.config, scenario=args.scenario, calls=args.calls)
    command = [PY_SPY, "record", "--format", "raw", "--rate", "400", "-o", str(out)]  # busy samples only
    subprocess.run([*command, "--", sys.executable, "-c", script], check=True, env=bench_env())
    return out


def profile_proxy(args: argparse.Namespace) -> Path:
    import yaml  # noqa: PLC0415

    from _procs import FakeProvider  # noqa: PLC0415
    from proxy_bench import load, proxy_config  # noqa: PLC0415

    sys.path.insert(0, str(HERE.parent))
    from tests.proxy.harness import ProxyProcess  # noqa: PLC0415

    out = HERE / "results" / ("profile-proxy.folded" if args.callback else "profile-proxy-none.folded")
    out.parent.mkdir(parents=True, exist_ok=True)
    fake = FakeProvider(sys.executable)
    workdir = Path(tempfile.mkdtemp(prefix="otel-llm-profile-"))
    config_file = workdir / "bench-config.yaml"
    config_file.write_text(yaml.safe_dump(proxy_config(f"{fake.url}/v1", callbacks=args.callback)))
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": fake.url, "OTEL_LLM_RAISE_INTERNAL_ERRORS": "false"}
    proxy = ProxyProcess(
        workdir, [], {**env, "OTEL_BSP_SCHEDULE_DELAY": "5000", **settings_of(args)}, config_file=config_file
    )
    try:
        proxy.start(timeout=180)
        asyncio.run(load(proxy.url, 200, 30, 8, args.stream_chunks))
        assert proxy.process is not None
        spy = subprocess.Popen(
            [
                *(PY_SPY, "record", "--format", "raw", "--rate", "200", "--gil", "--subprocesses", "-o", str(out)),
                *("--duration", str(int(args.seconds)), "--pid", str(proxy.process.pid)),
            ]
        )
        time.sleep(1)
        result = asyncio.run(load(proxy.url, 10**6, args.seconds - 2, 8, args.stream_chunks))
        print(json.dumps({"load": result}), flush=True)
        spy.wait(timeout=args.seconds + 60)
    finally:
        proxy.stop()
        fake.stop()
    return out


def _timer_totals(prefix: Path) -> dict[str, dict[str, int]]:
    merged: dict[str, dict[str, int]] = {"ns": {}, "calls": {}, "objects": {}}
    for path in prefix.parent.glob(prefix.name + ".*.json"):
        data = json.loads(path.read_text())
        for part in ("ns", "calls", "objects"):
            for key, value in data.get(part, {}).items():
                merged[part][key] = merged[part].get(key, 0) + value
    return merged


def profile_timers(args: argparse.Namespace) -> dict[str, object]:
    """Thread CPU µs per request in each telemetry function, inside the real proxy under load."""
    import yaml  # noqa: PLC0415

    from _procs import FakeProvider  # noqa: PLC0415
    from proxy_bench import load, proxy_config, tree_cpu_s  # noqa: PLC0415

    sys.path.insert(0, str(HERE.parent))
    from tests.proxy.harness import ProxyProcess  # noqa: PLC0415

    fake = FakeProvider(sys.executable)
    workdir = Path(tempfile.mkdtemp(prefix="otel-llm-timers-"))
    (workdir / "sitecustomize.py").write_text(TIMERS)
    config_file = workdir / "bench-config.yaml"
    config_file.write_text(yaml.safe_dump(proxy_config(f"{fake.url}/v1", callbacks=args.callback)))
    prefix = workdir / "timers"
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": fake.url,
        "OTEL_LLM_RAISE_INTERNAL_ERRORS": "false",
        "OTEL_BSP_SCHEDULE_DELAY": "5000",
        "OTEL_METRIC_EXPORT_INTERVAL": "60000",
        "BENCH_TIMERS": str(prefix),
        **({"BENCH_TIMERS_PROMOTIONS": "1"} if args.promotions or args.promoted_types else {}),
        **({"BENCH_TIMERS_PROMOTED_TYPES": "1"} if args.promoted_types else {}),
        **({} if args.callback else {"BENCH_TIMERS_GC_ONLY": "1"}),
        **settings_of(args),
    }
    proxy = ProxyProcess(workdir, [], env, config_file=config_file)
    try:
        proxy.start(timeout=180)
        assert proxy.process is not None
        asyncio.run(load(proxy.url, 300, 60, 8, args.stream_chunks))
        time.sleep(2)
        before, cpu_before = _timer_totals(prefix), tree_cpu_s(proxy.process.pid)
        result = asyncio.run(load(proxy.url, 10**6, args.seconds, 8, args.stream_chunks))
        time.sleep(6)  # one more batch export of this load's spans
        after, cpu_after = _timer_totals(prefix), tree_cpu_s(proxy.process.pid)
        log = proxy.log()
    finally:
        proxy.stop()
        fake.stop()
    missing = [key for key in after["ns"] if key.startswith("MISSING ")]
    if args.callback and (missing or not after["ns"]):
        raise RuntimeError(f"the timers did not install (targets missing: {missing}); proxy log: " + log[-3000:])
    if "otel-llm: internal error" in log:
        raise RuntimeError("otel-llm reported internal errors under the timers: " + log[-3000:])
    requests = result["ok"]
    rows = {
        key: {
            "us_per_request": round((after["ns"][key] - before["ns"].get(key, 0)) / requests / 1000, 1),
            "calls_per_request": round((after["calls"][key] - before["calls"].get(key, 0)) / requests, 4),
        }
        for key in after["ns"]
    }
    ordered = dict(sorted(rows.items(), key=lambda item: -item[1]["us_per_request"]))
    promoted = after["objects"].get("promoted", 0) - before["objects"].get("promoted", 0)
    young_types = {
        key[5:]: round((count - before["objects"].get(key, 0)) / requests, 2)
        for key, count in after["objects"].items()
        if key.startswith("type ")
    }
    young_types = dict(sorted(young_types.items(), key=lambda item: -item[1])[: args.top_types])
    return {
        "requests": requests,
        "rps": round(result["rps"], 1),
        **({"objects_promoted_per_request": round(promoted / requests, 1)} if args.promotions else {}),
        "proxy_cpu_ms_per_request": round(1000 * (cpu_after - cpu_before) / requests, 3),
        "inclusive_thread_cpu": ordered,
        **({"young_objects_at_generation_1_per_request": young_types} if args.promoted_types else {}),
    }


def settings_of(args: argparse.Namespace) -> dict[str, str]:
    """``--env NAME=VALUE`` options as the proxy's environment."""
    settings = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--env {item!r}: expected NAME=VALUE")
        settings[name] = value
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("sdk", "proxy", "timers"))
    parser.add_argument("--config", default="otel-llm-callback")
    parser.add_argument("--scenario", default="sync")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--stream-chunks", type=int, default=0, help="proxy/timers: streamed responses of N chunks")
    parser.add_argument(
        "--no-callback", dest="callback", action="store_false", help="profile the proxy without otel-llm (the baseline)"
    )
    parser.add_argument(
        "--promotions",
        action="store_true",
        help="timers: also count objects promoted to the oldest generation per request (by generation-1 "
        "collections: what the young generations held minus what was freed)",
    )
    parser.add_argument(
        "--promoted-types",
        action="store_true",
        help="timers: also list, per request, the kinds of objects in the young generations whenever a "
        "generation-1 collection starts (what it promotes, less the few cycles it frees). The listing runs "
        "inside the collections and perturbs them (more and longer collections, most of all without the "
        "callback): compare which kinds a run adds, not the totals",
    )
    parser.add_argument("--top-types", type=int, default=60, help="timers --promoted-types: how many kinds to list")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="proxy/timers: a setting for the proxy (e.g. OTEL_LLM_PROXY_EMITTER=process); repeatable",
    )
    args = parser.parse_args()
    if args.mode == "timers":
        print(json.dumps(profile_timers(args), indent=1))
        return
    folded = profile_sdk(args) if args.mode == "sdk" else profile_proxy(args)
    print(json.dumps({"folded": str(folded), **summarize(folded)}, indent=1))


if __name__ == "__main__":
    main()
