"""One metric export at scale: collection, and encoding by the SDK's encoder and by otel-llm's.

A gateway with many active keys exports one series per key per metric and attribute set at every
collection (``OTEL_METRIC_EXPORT_INTERVAL``), in the periodic reader's thread, holding the GIL the
proxy's event loop needs. This fills otel-llm's metric store with ``--keys`` keys, each with one
histogram series (with an exemplar) and one counter series, the attributes the proxy's per-key
points carry; before each collection ``--active`` of the keys (a different share each round) make
one more call, as between two exports of a gateway where most keys are idle at any moment; then
times (median of ``--rounds``): the store's collection into ``MetricsData``,
the SDK's OTLP encoding (``encode_metrics(...).SerializeToString()``), and otel-llm's wire
encoding (``metric_wire.encode_metrics``), and checks the two encodings are the same bytes.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricsData, ResourceMetrics, ScopeMetrics
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_llm._emit import instruments
from otel_llm._emit.store import MetricStore, sorted_key
from otel_llm._export import metric_wire


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--active", type=int, default=2_000, help="keys calling between two collections")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    store = MetricStore(1e9, args.keys * 4, 300.0)
    duration = store.instrument(instruments.DURATION)
    spend = store.instrument(instruments.SPEND)
    reader = store.add_reader("otlp")
    keys = [
        sorted_key(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-main",
                "otel_llm.key.alias": f"key-{key}",
                "otel_llm.team.id": f"team-{key % 50}",
            }.items()
        )
        for key in range(args.keys)
    ]
    tracer = TracerProvider().get_tracer("bench")

    def calls(first: int, count: int) -> None:
        with tracer.start_as_current_span("attempt") as span:
            context = trace.set_span_in_context(span)
            for key in range(first, first + count):
                series = keys[key % args.keys]
                duration.record(0.3 + key % 7 * 0.1, series, context)
                spend.add(0.0021, series)

    calls(0, args.keys)
    store.collect(reader, lambda kind: AggregationTemporality.CUMULATIVE, False)  # every key exported once
    resource = Resource.create({"service.name": "litellm-proxy", "service.instance.id": "worker-1"})
    scope = InstrumentationScope("otel_llm", "0.1.0", "https://opentelemetry.io/schemas/1.37.0")
    samples: dict[str, list[float]] = {"collect": [], "sdk_encode": [], "wire_encode": []}
    identical = True
    points = 0
    for round_ in range(args.rounds):
        calls(round_ * args.active, args.active)
        started = time.perf_counter()
        metrics = store.collect(reader, lambda kind: AggregationTemporality.CUMULATIVE, False)
        collected = time.perf_counter()
        data = MetricsData([ResourceMetrics(resource, [ScopeMetrics(scope, metrics, scope.schema_url)], "")])
        points = metric_wire.count_points(data)
        before_sdk = time.perf_counter()
        sdk = encode_metrics(data).SerializeToString()
        before_wire = time.perf_counter()
        wire = metric_wire.encode_metrics(data)
        done = time.perf_counter()
        identical = identical and sdk == wire
        samples["collect"].append((collected - started) * 1e3)
        samples["sdk_encode"].append((before_wire - before_sdk) * 1e3)
        samples["wire_encode"].append((done - before_wire) * 1e3)
    medians = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    print(
        json.dumps(
            {
                "keys": args.keys,
                "active": args.active,
                "points": points,
                "ms_median": medians,
                "sdk_to_wire": round(medians["sdk_encode"] / medians["wire_encode"], 2),
                "identical_bytes": identical,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
