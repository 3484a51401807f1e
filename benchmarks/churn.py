"""A gateway that churns keys for months, compressed: RSS and exported series stay flat.

Feeds ``--calls`` proxy-style callback payloads over ``--keys`` distinct virtual keys through
otel-llm's ``build_record`` + ``Telemetry.emit`` on the lean path (the metric store and its
reader slot, as the proxy builds them), on a simulated clock: ``--seconds-per-call`` apart, so
200,000 calls at 0.05 s span 10,000 s of traffic. Keys churn: at any moment only a window of
``--active`` keys calls, and the window moves on through all the keys (each key is active for a
while, then idle for good, as keys are created and retired). The metric store is collected
every ``--export-every`` simulated seconds (an export), and every ``--every`` calls the RSS and
the series of that collection are recorded. Once the idle timeout has passed, the series
exported stay proportional to the active keys, not to every key ever seen, and RSS stays flat.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("OTEL_LLM_KEY_HASH_SALT", "bench-salt")

from cardinality import rss_mb
from configs import install_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--active", type=int, default=1_000, help="keys calling at any moment")
    parser.add_argument("--seconds-per-call", type=float, default=0.05)
    parser.add_argument("--idle-timeout", type=float, default=600.0)
    parser.add_argument("--export-every", type=float, default=60.0, help="simulated seconds between exports")
    parser.add_argument("--every", type=int, default=20_000)
    args = parser.parse_args()
    os.environ["OTEL_LLM_METRIC_IDLE_TIMEOUT"] = str(args.idle_timeout)
    os.environ["OTEL_LLM_LOOP_MODE"] = "off"

    pipeline = install_pipeline()
    from opentelemetry.sdk.metrics.export import AggregationTemporality  # noqa: PLC0415

    from microbench import capture_payload  # noqa: PLC0415
    from otel_llm import _config  # noqa: PLC0415
    from otel_llm._capture.payload import build_record  # noqa: PLC0415
    from otel_llm._emit.store import MetricStore  # noqa: PLC0415
    from otel_llm._emit.telemetry import Telemetry  # noqa: PLC0415

    clock = {"now": 0.0}
    config = _config.resolve()
    store = MetricStore(
        config.metric_idle_timeout_s,
        config.metric_series_limit,
        config.headroom_ttl_s,
        clock_ns=lambda: int(1.7e18 + clock["now"] * 1e9),
        mono=lambda: clock["now"],
    )
    slot = store.add_reader("churn")
    telemetry = Telemetry(config, pipeline.tracer_provider, pipeline.meter_provider, metric_store=store)
    kwargs = capture_payload()
    base_slo = dict(kwargs["standard_logging_object"])
    base_metadata = dict(base_slo.get("metadata") or {})

    def key_metadata(k: int) -> dict[str, Any]:
        return {
            "user_api_key_hash": f"{k:064x}",
            "user_api_key_alias": f"key-{k}",
            "user_api_key_team_id": f"team-{k % 50}",
            "user_api_key_spend": float(k % 97),
            "user_api_key_max_budget": 100.0,
        }

    def export() -> dict[str, int]:
        per_metric: dict[str, int] = {}
        for shared in (False, True):
            for metric in store.collect(slot, lambda kind: AggregationTemporality.CUMULATIVE, shared):
                per_metric[metric.name] = len(metric.data.data_points)
        return per_metric

    samples: list[dict[str, Any]] = []
    seen_keys: set[int] = set()
    last_export = 0.0
    latest: dict[str, int] = {}
    gc.collect()
    cpu0 = time.process_time()
    # The window of active keys moves through all keys once over the run.
    step = max(1, (args.keys - args.active)) / args.calls
    for i in range(args.calls):
        clock["now"] = i * args.seconds_per_call
        key = int(i * step) + (i * 7919) % args.active
        seen_keys.add(key)
        slo = {**base_slo, "metadata": {**base_metadata, **key_metadata(key)}}
        telemetry.emit(build_record(slo, kwargs, config))
        if clock["now"] - last_export >= args.export_every:
            last_export = clock["now"]
            latest = export()
        if (i + 1) % args.every == 0 or i + 1 == args.calls:
            pipeline.tracer_provider.force_flush()
            gc.collect()
            samples.append(
                {
                    "calls": i + 1,
                    "simulated_s": round(clock["now"]),
                    "keys_seen": len(seen_keys),
                    "rss_mb": round(rss_mb(), 1),
                    "series_exported": sum(latest.values()),
                    "spend_series": latest.get("otel_llm.client.spend", 0),
                    "store_series": sum(len(i) for i in store.instruments()),
                }
            )
            print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
    cpu = time.process_time() - cpu0
    # After the idle timeout has passed once, the series must stay flat.
    steady = [s for s in samples if s["simulated_s"] > 2 * args.idle_timeout] or samples[-1:]
    result = {
        "calls": args.calls,
        "keys": args.keys,
        "active": args.active,
        "idle_timeout_s": args.idle_timeout,
        "simulated_s": round(clock["now"]),
        "samples": samples,
        "cpu_us_per_call": round(cpu / args.calls * 1e6, 1),
        "keys_seen": len(seen_keys),
        "series_steady_min": min(s["series_exported"] for s in steady),
        "series_steady_max": max(s["series_exported"] for s in steady),
        "spend_series_steady_max": max(s["spend_series"] for s in steady),
        "rss_steady_first_mb": steady[0]["rss_mb"],
        "rss_steady_last_mb": steady[-1]["rss_mb"],
        "rss_steady_growth_mb": round(steady[-1]["rss_mb"] - steady[0]["rss_mb"], 1),
        "spans_exported": pipeline.exporter.count,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
