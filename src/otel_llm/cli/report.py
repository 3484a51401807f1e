"""The demo's report, built from the spans otel-llm emitted (so it shows what you would see)."""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind

from .. import _names as n

_MAX_SAMPLES = 50_000


@dataclass
class Group:
    """Figures of one (key, team, model group)."""

    calls: int = 0
    errors: int = 0
    retries: int = 0
    fallbacks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    spend: float = 0.0
    loops: int = 0
    durations: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)


def _number(value: object) -> Any:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


class ReportCollector(SpanProcessor):
    """A span processor that aggregates finished LLM attempt spans."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str, str], Group] = defaultdict(Group)
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""
        return

    def on_end(self, span: ReadableSpan) -> None:
        """Add an ended attempt span to its group (key, team, model)."""
        attrs = span.attributes or {}
        if span.kind is not SpanKind.CLIENT or n.GEN_AI_OPERATION_NAME not in attrs:
            return
        key = (
            str(attrs.get(n.KEY_ALIAS, "-")),
            str(attrs.get(n.TEAM_ALIAS, attrs.get(n.TEAM_ID, "-"))),
            str(attrs.get(n.MODEL_GROUP, attrs.get(n.GEN_AI_REQUEST_MODEL, "-"))),
        )
        events = {event.name for event in span.events}
        with self._lock:
            group = self.groups[key]
            group.calls += 1
            group.errors += 1 if n.ERROR_TYPE in attrs else 0
            group.retries += 1 if n.EVENT_RETRY in events else 0
            group.fallbacks += 1 if n.EVENT_FALLBACK in events else 0
            group.loops += 1 if n.EVENT_LOOP_DETECTED in events else 0
            group.prompt_tokens += _number(attrs.get(n.GEN_AI_USAGE_INPUT_TOKENS))
            group.completion_tokens += _number(attrs.get(n.GEN_AI_USAGE_OUTPUT_TOKENS))
            group.spend += _number(attrs.get(n.USAGE_COST))
            if span.start_time and span.end_time and len(group.durations) < _MAX_SAMPLES:
                group.durations.append((span.end_time - span.start_time) / 1e9)
            ttft = attrs.get(n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
            if isinstance(ttft, float) and len(group.ttfts) < _MAX_SAMPLES:
                group.ttfts.append(ttft)

    def snapshot(self) -> dict[tuple[str, str, str], Group]:
        """A copy of the groups so far, safe to read while spans keep ending."""
        with self._lock:
            return dict(self.groups)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def as_json(groups: dict[tuple[str, str, str], Group], served: dict[str, int]) -> dict[str, Any]:
    """The report as data (for --report-json and tests)."""
    rows = []
    for (key, team, model), g in sorted(groups.items()):
        rows.append(
            {
                "key": key,
                "team": team,
                "model": model,
                "calls": g.calls,
                "errors": g.errors,
                "retries": g.retries,
                "fallbacks": g.fallbacks,
                "prompt_tokens": g.prompt_tokens,
                "completion_tokens": g.completion_tokens,
                "spend_usd": g.spend,
                "p50_latency_s": _quantile(g.durations, 0.5),
                "p95_latency_s": _quantile(g.durations, 0.95),
                "p50_ttft_s": _quantile(g.ttfts, 0.5),
                "p95_ttft_s": _quantile(g.ttfts, 0.95),
                "loop_detections": g.loops,
            }
        )
    totals: dict[str, Any] = {
        field_name: sum(row[field_name] for row in rows)
        for field_name in (
            "calls",
            "errors",
            "retries",
            "fallbacks",
            "prompt_tokens",
            "completion_tokens",
            "spend_usd",
            "loop_detections",
        )
    }
    return {"rows": rows, "totals": totals, "provider_served": served}


def render(report: dict[str, Any]) -> str:
    """The report as a terminal table."""
    header = (
        f"{'key':<16} {'team':<14} {'model':<12} {'calls':>6} {'err':>4} {'retry':>5} {'fallb':>5} "
        f"{'prompt':>8} {'compl':>7} {'spend $':>9} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'ttft50':>7} {'ttft95':>7} {'loops':>5}"
    )
    lines = ["", "otel-llm demo report (from the telemetry otel-llm emitted)", "", header, "-" * len(header)]
    for row in report["rows"]:
        lines.append(
            f"{row['key'][:16]:<16} {row['team'][:14]:<14} {row['model'][:12]:<12} "
            f"{row['calls']:>6} {row['errors']:>4} {row['retries']:>5} {row['fallbacks']:>5} "
            f"{row['prompt_tokens']:>8} {row['completion_tokens']:>7} "
            f"{row['spend_usd']:>9.5f} {_ms(row['p50_latency_s']):>7} {_ms(row['p95_latency_s']):>7} "
            f"{_ms(row['p50_ttft_s']):>7} {_ms(row['p95_ttft_s']):>7} {row['loop_detections']:>5}"
        )
    t = report["totals"]
    lines.append("-" * len(header))
    lines.append(
        f"{'total':<44} {t['calls']:>6} {t['errors']:>4} {t['retries']:>5} {t['fallbacks']:>5} "
        f"{t['prompt_tokens']:>8} {t['completion_tokens']:>7} {t['spend_usd']:>9.5f}"
    )
    served = report["provider_served"]
    lines += [
        "",
        f"The fake provider served {served['requests']} requests ({served['prompt_tokens']} prompt and "
        f"{served['completion_tokens']} completion tokens) and injected {served['errors']} errors.",
    ]
    return "\n".join(lines)
