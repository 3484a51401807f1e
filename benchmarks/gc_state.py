"""What otel-llm's long-lived state at scale costs every full garbage collection of the host.

A LiteLLM proxy runs a full (generation-2) collection every few thousand requests, and it walks
every object the collector tracks: LiteLLM's heap (~0.3 s a collection in ``proxy_bench.py``)
and whatever otel-llm keeps for minutes or hours. Two of otel-llm's structures grow with the
tenants: the loop detector's windows (one per key, end user or session; up to
``OTEL_LLM_LOOP_MAX_WINDOWS``, 10,000 by default, each up to 512 calls) and the metric store's
histogram series with their exemplars (one per bucket per reader). This fills both, as a gateway
with many active tenants would, and times ``gc.collect()`` (median of ``--rounds``) empty, with
the loop windows, and with the histogram series added; and counts the objects the collector
tracks for each. Then ``--keys`` keys each make one proxy-style call through what the proxy runs
per attempt (``build_record``, loop detection, the lean ``Telemetry.emit``: the metric store's
series, the limiter, the emitter's attribute sets, headroom, the key's loop window), and the
objects tracked per key are counted. Run it against two checkouts to compare
(``PYTHONPATH=<checkout>/src``). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import otel_llm
from otel_llm._emit.instruments import DURATION_BUCKETS
from otel_llm._emit.series import Spec
from otel_llm._emit.store import MetricStore, sorted_key
from otel_llm._loop.store import InProcessStore, Observation

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

HISTOGRAM = Spec("h", "histogram", "s", "a histogram", tuple(float(b) for b in DURATION_BUCKETS))


def full_collection_ms(rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        gc.collect()
        samples.append((time.perf_counter() - started) * 1e3)
    return round(statistics.median(samples), 2)


def tracked() -> int:
    gc.collect()
    return len(gc.get_objects())


def tracked_per_key(keys: int) -> float:
    """Objects the collector tracks per key after one call of each through the proxy's per-attempt path."""
    os.environ.setdefault("OTEL_LLM_KEY_HASH_SALT", "bench-salt")
    from configs import install_pipeline  # noqa: PLC0415
    from microbench import _lean_telemetry, capture_payload, proxy_payload  # noqa: PLC0415
    from otel_llm import _config  # noqa: PLC0415
    from otel_llm._capture.payload import build_record  # noqa: PLC0415
    from otel_llm._emit.telemetry import Telemetry  # noqa: PLC0415
    from otel_llm._loop.guard import observe  # noqa: PLC0415

    pipeline = install_pipeline()
    config = _config.resolve()
    telemetry = _lean_telemetry(pipeline, config, Telemetry)
    captured = capture_payload()
    payloads = [proxy_payload(captured, key=key, end_user=key) for key in range(keys + 1)]

    def call(payload: dict[str, Any]) -> None:
        record = build_record(payload["standard_logging_object"], payload, config)
        observe(record, config)
        telemetry.emit(record)

    call(payloads[0])  # the first call builds what every key shares
    pipeline.tracer_provider.force_flush()
    before = tracked()
    for payload in payloads[1:]:
        call(payload)
    pipeline.tracer_provider.force_flush()
    return round((tracked() - before) / keys, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=2_000, help="loop windows (keys, end users, sessions)")
    parser.add_argument("--calls-per-window", type=int, default=256, help="calls kept per window (at most 512)")
    parser.add_argument("--series", type=int, default=10_000, help="histogram series (key x model)")
    parser.add_argument(
        "--readers", type=int, default=2, help="metric readers (the proxy: OTLP, or OTLP and Prometheus)"
    )
    parser.add_argument("--keys", type=int, default=3_000, help="keys making one call each through the proxy's path")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    objects = {"empty": tracked()}
    empty_ms = full_collection_ms(args.rounds)

    loops = InProcessStore(max_windows=args.windows)
    for window in range(args.windows):
        for call in range(args.calls_per_window):
            observation = Observation(1e6 + call * 0.01, f"fp{window}-{call % 7}", None, 100 + call, 0.001)
            loops.append(f"scope-{window}", observation, 3600.0, 4, 30.0)
    objects["loop_windows"] = tracked() - objects["empty"]
    loops_ms = full_collection_ms(args.rounds)

    store = MetricStore(1e9, args.series * 2, 300.0)
    histogram = store.instrument(HISTOGRAM)
    for reader in range(args.readers):
        store.add_reader(f"reader-{reader}")
    with TracerProvider().get_tracer("bench").start_as_current_span("attempt") as span:
        context = trace.set_span_in_context(span)
        for series in range(args.series):
            key = sorted_key({"otel_llm.key.alias": f"key-{series}", "gen_ai.request.model": "gpt-main"}.items())
            for bound in DURATION_BUCKETS[:10]:  # a sampled measurement, so an exemplar, in ten buckets
                histogram.record(float(bound) * 0.99, key, context)
    objects["histogram_series"] = tracked() - objects["empty"] - objects["loop_windows"]
    both_ms = full_collection_ms(args.rounds)

    del loops, store, histogram
    per_key = tracked_per_key(args.keys)

    print(
        json.dumps(
            {
                "otel_llm": otel_llm.__file__,
                "windows": args.windows,
                "calls_per_window": args.calls_per_window,
                "series": args.series,
                "readers": args.readers,
                "tracked_objects": objects,
                "tracked_objects_per_key": per_key,
                "full_collection_ms": {"empty": empty_ms, "with_loop_windows": loops_ms, "with_both": both_ms},
                "added_ms": {
                    "loop_windows": round(loops_ms - empty_ms, 2),
                    "histogram_series": round(both_ms - loops_ms, 2),
                },
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
