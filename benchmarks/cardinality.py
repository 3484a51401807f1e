"""Cardinality and memory: many calls over many end users and keys through record + emit.

Feeds ``--calls`` proxy-style callback payloads (``--users`` distinct end users, ``--keys``
distinct virtual keys, 50 teams) through otel-llm's ``build_record`` + ``Telemetry.emit``,
writing to a BatchSpanProcessor → discarding exporter and an in-memory metric reader
(cumulative, so every series ever seen is kept by the SDK). ``--attribution`` sets
``OTEL_LLM_METRIC_ATTRIBUTION`` (otel-llm's default is key,team; key,team,end_user makes end
users a metric attribute). ``--pairing stable`` gives each end user one key (an app's users
call through its key); ``random`` draws the key of every call at random (the adversarial case:
capped values still combine into many series). Every ``--every`` calls it records RSS and
collects the metrics:
the series per instrument, and the distinct values of each attribute, which must stay within
``OTEL_LLM_METRIC_ATTRIBUTE_VALUE_LIMIT`` (+1 for the ``_OTHER`` overflow value).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("OTEL_LLM_KEY_HASH_SALT", "bench-salt")

from configs import install_pipeline


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def series(reader: Any) -> tuple[dict[str, int], dict[str, int]]:
    """(series per metric, distinct values per attribute key across all metrics)."""
    data = reader.get_metrics_data()
    per_metric: dict[str, int] = {}
    values: dict[str, set[object]] = {}
    if data is None:
        return per_metric, {}
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = list(metric.data.data_points)
                per_metric[metric.name] = per_metric.get(metric.name, 0) + len(points)
                for point in points:
                    for key, value in (point.attributes or {}).items():
                        values.setdefault(key, set()).add(value)
    return per_metric, {k: len(v) for k, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--every", type=int, default=100_000)
    parser.add_argument("--attribution", default="key,team")
    parser.add_argument("--pairing", choices=("stable", "random"), default="stable")
    args = parser.parse_args()
    os.environ["OTEL_LLM_METRIC_ATTRIBUTION"] = args.attribution
    rng = random.Random(6)

    pipeline = install_pipeline()
    from microbench import capture_payload  # noqa: PLC0415
    from otel_llm import _config  # noqa: PLC0415
    from otel_llm._capture.payload import build_record  # noqa: PLC0415
    from otel_llm._emit.telemetry import Telemetry  # noqa: PLC0415

    config = _config.resolve()
    telemetry = Telemetry(config, pipeline.tracer_provider, pipeline.meter_provider)
    kwargs = capture_payload()
    base_slo = dict(kwargs["standard_logging_object"])
    base_metadata = dict(base_slo.get("metadata") or {})
    keys = [
        {
            "user_api_key_hash": f"{k:064x}",
            "user_api_key_alias": f"key-{k}",
            "user_api_key_team_id": f"team-{k % 50}",
            "user_api_key_team_alias": f"Team {k % 50}",
            "user_api_key_user_id": f"user-{k % 300}",
            "user_api_key_spend": float(k % 97),
            "user_api_key_max_budget": 100.0,
        }
        for k in range(args.keys)
    ]
    samples: list[dict[str, Any]] = []
    gc.collect()
    started = time.monotonic()
    cpu0 = time.process_time()
    for i in range(args.calls):
        user = (i * 7919) % args.users
        key = user % args.keys if args.pairing == "stable" else rng.randrange(args.keys)
        metadata = {**base_metadata, **keys[key]}
        slo = {**base_slo, "metadata": metadata, "end_user": f"end-user-{user}"}
        telemetry.emit(build_record(slo, kwargs, config))
        if (i + 1) % args.every == 0 or i + 1 == args.calls:
            pipeline.tracer_provider.force_flush()
            gc.collect()
            per_metric, distinct = series(pipeline.reader)
            samples.append(
                {
                    "calls": i + 1,
                    "rss_mb": round(rss_mb(), 1),
                    "series_total": sum(per_metric.values()),
                    "series_max_per_metric": max(per_metric.values(), default=0),
                    "distinct_max_per_attribute": max(distinct.values(), default=0),
                    "distinct": distinct,
                    "elapsed_s": round(time.monotonic() - started, 1),
                }
            )
            print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
    cpu = time.process_time() - cpu0
    limit = config.metric_attribute_value_limit
    first, last = samples[0], samples[-1]
    result = {
        "calls": args.calls,
        "users": args.users,
        "keys": args.keys,
        "attribution": sorted(config.metric_attribution),
        "pairing": args.pairing,
        "limit": limit,
        "samples": samples,
        "cpu_us_per_call": cpu / args.calls * 1e6,
        "series_final": last["series_total"],
        "series_growth_after_first_sample": last["series_total"] - first["series_total"],
        "distinct_max_per_attribute": max(s["distinct_max_per_attribute"] for s in samples),
        "within_cap": all(s["distinct_max_per_attribute"] <= limit + 1 for s in samples),
        "rss_first_mb": first["rss_mb"],
        "rss_last_mb": last["rss_mb"],
        "rss_growth_mb": round(last["rss_mb"] - first["rss_mb"], 1),
        "spans_exported": pipeline.exporter.count,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
