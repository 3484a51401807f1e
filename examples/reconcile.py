"""Sum otel-llm's usage records per day, team, key or agent, and reconcile them with the per-key counters.

otel-llm sends one usage record per LLM attempt (log event ``otel_llm.usage``: who, what, tokens,
cost; never content), and the Collector (collector/otelcol.yaml) writes them as JSON lines to its
file sink (``OTEL_LLM_COLLECTOR_USAGE_PATH``, rotated into ``usage-<time>.jsonl`` beside it). They
are the chargeback record: unsampled, kept as long as you keep the files, where Prometheus keeps 7
days. Standard library only.

    # Daily spend, calls and tokens per team, key and agent (the default breakdown):
    python examples/reconcile.py /var/lib/otelcol/usage/
    # Another breakdown, as CSV:
    python examples/reconcile.py usage/ --by month,team --csv
    # Records summed per key against the per-key counters in Prometheus (exit 1 on a mismatch):
    python examples/reconcile.py usage/ --prometheus http://localhost:9090 --service litellm-proxy

The counters are totals since each proxy worker started (and since the key's series was created:
an idle series is dropped after OTEL_LLM_METRIC_IDLE_TIMEOUT and starts again from zero), so
reconcile them with the records written over the same time: the files since the proxies started,
or ``--since``. Keys a cardinality cap folded into ``_OTHER`` have no counter of their own: they
show as mismatches, and the records still name them.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import sys
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVENT = "otel_llm.usage"
# Each breakdown's attribute(s), first non-empty wins (a key without an alias by its hash).
FIELDS = {
    "team": ("otel_llm.team.alias", "otel_llm.team.id"),
    "key": ("otel_llm.key.alias", "otel_llm.key.hash"),
    "key_hash": ("otel_llm.key.hash",),
    "agent": ("gen_ai.agent.id", "gen_ai.agent.name"),
    "model": ("otel_llm.model_group", "gen_ai.request.model"),
    "provider": ("gen_ai.provider.name",),
    "service": ("service.name",),
    "status": ("otel_llm.usage.status",),
}
TIMES = {"day": "%Y-%m-%d", "month": "%Y-%m", "hour": "%Y-%m-%dT%H:00Z"}
TOKENS = {
    "input": "gen_ai.usage.input_tokens",
    "output": "gen_ai.usage.output_tokens",
    "cache_read": "gen_ai.usage.cache_read.input_tokens",
}


def _value(value: dict[str, Any]) -> Any:
    """An OTLP JSON AnyValue as Python (64-bit integers are JSON strings)."""
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [_value(v) for v in value["arrayValue"].get("values", [])]
    for kind in ("stringValue", "doubleValue", "boolValue"):
        if kind in value:
            return value[kind]
    return None


def _attributes(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: _value(item.get("value", {})) for item in items}


def files(paths: Iterable[Path]) -> list[Path]:
    """The usage files under ``paths`` (files, or directories holding usage*.json* files), oldest first."""
    found: list[Path] = []
    for path in paths:
        found += sorted(path.glob("*.json*")) if path.is_dir() else [path]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def read_records(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Every usage record in the files: its attributes, its resource's ``service.name``, its time
    (``time``, a UTC datetime) and its attempt span's ``trace_id`` and ``span_id`` (to open the trace).
    Other log records (another event, no event name) are skipped."""
    for path in files(paths):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                for resource_logs in json.loads(line).get("resourceLogs", []):
                    resource = _attributes(resource_logs.get("resource", {}).get("attributes", []))
                    for scope_logs in resource_logs.get("scopeLogs", []):
                        for log in scope_logs.get("logRecords", []):
                            if log.get("eventName") != EVENT:
                                continue
                            record = _attributes(log.get("attributes", []))
                            record["service.name"] = resource.get("service.name")
                            record["trace_id"], record["span_id"] = log.get("traceId"), log.get("spanId")
                            nanos = int(log.get("timeUnixNano") or log.get("observedTimeUnixNano") or 0)
                            record["time"] = datetime.datetime.fromtimestamp(nanos / 1e9, datetime.UTC)
                            yield record


@dataclass
class Totals:
    """What a group of records adds up to."""

    calls: int = 0
    failed: int = 0
    cost: float = 0.0
    input: int = 0
    output: int = 0
    cache_read: int = 0

    def add(self, record: dict[str, Any]) -> None:
        self.calls += 1
        self.failed += record.get("otel_llm.usage.status") == "error"
        self.cost += float(record.get("otel_llm.usage.cost") or 0.0)
        for name, attribute in TOKENS.items():
            setattr(self, name, getattr(self, name) + int(record.get(attribute) or 0))


def group(record: dict[str, Any], by: list[str]) -> tuple[str, ...]:
    """The values of ``by`` (fields and time buckets) for one record; "" where it has none."""
    values = []
    for name in by:
        if name in TIMES:
            values.append(record["time"].strftime(TIMES[name]))
        else:
            values.append(next((str(record[a]) for a in FIELDS[name] if record.get(a)), ""))
    return tuple(values)


def totals(records: Iterable[dict[str, Any]], by: list[str]) -> dict[tuple[str, ...], Totals]:
    """The records summed per value of ``by``."""
    sums: dict[tuple[str, ...], Totals] = defaultdict(Totals)
    for record in records:
        sums[group(record, by)].add(record)
    return dict(sums)


def _prometheus(url: str, query: str) -> dict[str, float]:
    """An instant query's values by otel_llm_key_hash."""
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise SystemExit(f"Prometheus: {body}")
    return {s["metric"].get("otel_llm_key_hash", ""): float(s["value"][1]) for s in body["data"]["result"]}


def counters(url: str, service: str | None) -> dict[str, dict[str, float]]:
    """The per-key counters' totals now (over every worker), by key hash: calls, cost and tokens."""
    where = f'service_name="{service}"' if service else ""
    by = "sum by (otel_llm_key_hash)"
    return {
        "calls": _prometheus(url, f"{by} (otel_llm_client_requests_total{{{where}}})"),
        "cost": _prometheus(url, f"{by} (otel_llm_client_spend_USD_total{{{where}}})"),
        **{
            kind: _prometheus(
                url,
                f'{by} (otel_llm_client_tokens_total{{{where}{", " if where else ""}otel_llm_token_type="{kind}"}})',
            )
            for kind in TOKENS
        },
    }


def reconcile(records: dict[tuple[str, ...], Totals], counted: dict[str, dict[str, float]]) -> list[list[str]]:
    """One row per key hash and figure: the records' sum, the counter's, and whether they agree (floats
    summed in another order: within a relative 1e-9)."""
    rows = []
    for (key,) in sorted(set(records) | {(k,) for values in counted.values() for k in values}):
        total = records.get((key,), Totals())
        for figure, counter in counted.items():
            mine, theirs = float(getattr(total, figure)), counter.get(key, 0.0)
            same = math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-12)
            rows.append([key or "(no key)", figure, f"{mine:.10g}", f"{theirs:.10g}", "ok" if same else "MISMATCH"])
    return rows


def _print(header: list[str], rows: list[list[str]], as_csv: bool) -> None:
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerows([header, *rows])
        return
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def main(argv: list[str] | None = None) -> int:
    """Print the breakdown, or the reconciliation (exit 1 on a mismatch)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="usage files or directories (rotated files included)")
    parser.add_argument("--by", default="day,team,key,agent", help=f"comma-separated: {', '.join([*TIMES, *FIELDS])}")
    parser.add_argument(
        "--since", type=datetime.datetime.fromisoformat, help="only records from this time (ISO 8601, UTC)"
    )
    parser.add_argument("--service", help="only records (and counters) of this service.name")
    parser.add_argument("--prometheus", help="reconcile per key with the counters in this Prometheus (URL)")
    parser.add_argument("--csv", action="store_true", help="CSV instead of aligned columns")
    args = parser.parse_args(argv)
    since = args.since.replace(tzinfo=args.since.tzinfo or datetime.UTC) if args.since else None
    records = [
        r
        for r in read_records(args.paths)
        if (since is None or r["time"] >= since) and (args.service is None or r["service.name"] == args.service)
    ]
    if args.prometheus:
        rows = reconcile(totals(records, ["key_hash"]), counters(args.prometheus.rstrip("/"), args.service))
        _print(["key hash", "figure", "records", "counters", ""], rows, args.csv)
        return 1 if any(row[-1] != "ok" for row in rows) else 0
    by = [name.strip() for name in args.by.split(",") if name.strip()]
    unknown = [name for name in by if name not in TIMES and name not in FIELDS]
    if unknown:
        parser.error(f"unknown --by {', '.join(unknown)}")
    sums = totals(records, by)
    rows = [
        [*values, f"{t.cost:.6f}", str(t.calls), str(t.failed), str(t.input), str(t.cache_read), str(t.output)]
        for values, t in sorted(sums.items())
    ]
    _print([*by, "usd", "calls", "failed", "input_tokens", "cache_read_tokens", "output_tokens"], rows, args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
