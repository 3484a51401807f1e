"""Turns run.py's raw results into the Markdown results tables (and target verdicts)."""

from __future__ import annotations

import math
import statistics
from typing import Any

# Every SDK configuration, in the order they are run by default and shown in the tables.
CONFIG_NAMES = (
    "uninstrumented",
    "floor",
    "otel-llm-callback",
    "otel-llm-instrumentor",
    "otel-llm-callback-loop-off",
    "litellm-otel",
    "litellm-otel-v2",
    "openllmetry",
    "openinference",
    "openlit",
)

OURS = ("otel-llm-callback", "otel-llm-instrumentor")
DIAGNOSIS = ("otel-llm-callback-loop-off",)
FLOOR = "floor"
BASELINE = "uninstrumented"
FLOOR_TARGET = 1.25
PROXY_TARGET = 0.97


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:,.{digits}f}"


def sdk_stats(sdk: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Per (path, scenario, config): absolute and per-round overhead numbers."""
    by_key: dict[tuple[str, str, str], dict[int, dict[str, Any]]] = {}
    for sample in sdk["samples"]:
        key = (sample["path"], sample["scenario"], sample["config"])
        by_key.setdefault(key, {})[sample["round"]] = sample
    stats: dict[tuple[str, str, str], dict[str, Any]] = {}
    for (path, scenario, config), rounds in by_key.items():
        base = by_key.get((path, scenario, BASELINE), {})
        cpu, cpu_ov, cpu_pct, p50_ov, p90_ov, p50, p90 = [], [], [], [], [], [], []
        for index, sample in rounds.items():
            c = sample["cpu_s"] / sample["n"] * 1e6
            cpu.append(c)
            p50.append(sample["p50_ns"] / 1e3)
            p90.append(sample["p90_ns"] / 1e3)
            b = base.get(index)
            if b is None:
                continue
            bc = b["cpu_s"] / b["n"] * 1e6
            cpu_ov.append(c - bc)
            cpu_pct.append((c - bc) / bc * 100 if bc else float("nan"))
            p50_ov.append((sample["p50_ns"] - b["p50_ns"]) / 1e3)
            p90_ov.append((sample["p90_ns"] - b["p90_ns"]) / 1e3)
        stats[(path, scenario, config)] = {
            "cpu": _median(cpu),
            "p50": _median(p50),
            "p90": _median(p90),
            "cpu_ov": _median(cpu_ov),
            "cpu_ov_min": min(cpu_ov) if cpu_ov else float("nan"),
            "cpu_ov_max": max(cpu_ov) if cpu_ov else float("nan"),
            "cpu_ov_iqr": statistics.quantiles(cpu_ov, n=4) if len(cpu_ov) >= 2 else None,
            "cpu_pct": _median(cpu_pct),
            "p50_ov": _median(p50_ov),
            "p90_ov": _median(p90_ov),
            "undrained": sum(1 for s in rounds.values() if not s.get("drained", True)),
        }
    return stats


def _describe(sdk: dict[str, Any], config: str, path: str, scenario: str) -> tuple[str, str, str]:
    info = sdk.get("describe", {}).get(config, {}).get(f"{path}/{scenario}")
    if not info:
        return "–", "–", "–"
    spans = info.get("spans") or []
    attrs = max((s["attributes"] for s in spans), default=0)
    return f"{info['spans_per_call']:.1f}", str(attrs) if spans else "–", str(len(info.get("metrics") or {}))


def _spread(stat: dict[str, Any]) -> str:
    iqr = stat.get("cpu_ov_iqr")
    if iqr:
        return f"{_fmt(stat['cpu_ov'])} [{_fmt(iqr[0])}, {_fmt(iqr[2])}]"
    return _fmt(stat["cpu_ov"])


def render_sdk(sdk: dict[str, Any], verdicts: list[str]) -> list[str]:
    stats = sdk_stats(sdk)
    paths = sorted({k[0] for k in stats}, key=lambda p: (p != "mock", p))
    scenarios = [
        s for s in ("sync", "async", "stream", "embedding", "router_fallback") if any(k[1] == s for k in stats)
    ]
    configs = list(dict.fromkeys(k[2] for k in sorted(stats, key=lambda k: _order(k[2]))))
    lines = [
        "## 1. Per-call overhead of LiteLLM SDK calls",
        "",
        f"{sdk['rounds']} rounds; per round, each configuration ran one block per path and scenario "
        f"(calls per block: {', '.join(f'{k} {v}' for k, v in sdk['block'].items())}), in a shuffled order. "
        "Overhead = configuration − uninstrumented **of the same round**; the table shows the median over rounds "
        "and, in brackets, the interquartile range across rounds (the spread; the machine is shared). "
        "CPU is process CPU (all threads) per call, measured until LiteLLM's callbacks for the block drained "
        "and the span processor flushed.",
        "",
    ]
    for path in paths:
        title = "LiteLLM `mock_response` (no network)" if path == "mock" else "real HTTP to a local fake provider"
        lines += [f"### CPU overhead per call, µs — {title}", ""]
        lines.append("| configuration | " + " | ".join(scenarios) + " |")
        lines.append("|---|" + "---:|" * len(scenarios))
        for config in configs:
            cells = []
            for scenario in scenarios:
                stat = stats.get((path, scenario, config))
                if stat is None:
                    cells.append("–")
                elif config == BASELINE:
                    cells.append(f"{_fmt(stat['cpu'])} (absolute)")
                else:
                    spans = _describe(sdk, config, path, scenario)[0]
                    note = " (no spans)" if spans == "0.0" else ""
                    cells.append(_spread(stat) + note)
            lines.append(f"| {config} | " + " | ".join(cells) + " |")
        lines.append("")
        if any(c in configs for c in OURS) and FLOOR in configs:
            lines += [f"### otel-llm against the floor and the peers — {title}", ""]
            lines.append(
                "| scenario | floor µs | otel-llm callback µs (× floor) | instrumentor µs (× floor) | peers (µs) |"
            )
            lines.append("|---|---:|---:|---:|---|")
            for scenario in scenarios:
                floor = stats.get((path, scenario, FLOOR))
                if floor is None:
                    continue
                ours = []
                for config in OURS:
                    stat = stats.get((path, scenario, config))
                    if stat is None:
                        ours.append("–")
                        continue
                    ratio = stat["cpu_ov"] / floor["cpu_ov"] if floor["cpu_ov"] > 0 else float("nan")
                    ours.append(f"{_fmt(stat['cpu_ov'])} ({_fmt(ratio, 2)}×)")
                peers = []
                for config in configs:
                    if config in (BASELINE, FLOOR, *OURS, *DIAGNOSIS):
                        continue
                    stat = stats.get((path, scenario, config))
                    if stat is not None:
                        spans = _describe(sdk, config, path, scenario)[0]
                        peers.append(f"{config} {_fmt(stat['cpu_ov'])}" + (" (no spans)" if spans == "0.0" else ""))
                lines.append(f"| {scenario} | {_fmt(floor['cpu_ov'])} | {ours[0]} | {ours[1]} | {'; '.join(peers)} |")
            lines.append("")
        lines += [f"### Details — {title}", ""]
        lines.append(
            "| scenario | configuration | CPU µs/call | CPU overhead µs [IQR] (min…max) | CPU overhead % "
            "| p50 µs | p50 overhead µs | p90 overhead µs | spans/call | attrs/span (max) | metric instruments |"
        )
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for scenario in scenarios:
            for config in configs:
                stat = stats.get((path, scenario, config))
                if stat is None:
                    continue
                spans, attrs, instruments = _describe(sdk, config, path, scenario)
                base = config == BASELINE
                lines.append(
                    f"| {scenario} | {config} | {_fmt(stat['cpu'])} | "
                    + ("–" if base else f"{_spread(stat)} ({_fmt(stat['cpu_ov_min'])}…{_fmt(stat['cpu_ov_max'])})")
                    + f" | {'–' if base else _fmt(stat['cpu_pct'], 1) + ' %'} | {_fmt(stat['p50'])} | "
                    + f"{'–' if base else _fmt(stat['p50_ov'])} | {'–' if base else _fmt(stat['p90_ov'])} | "
                    + f"{spans} | {attrs} | {instruments} |"
                )
        lines.append("")
        _sdk_verdicts(stats, path, scenarios, configs, sdk, verdicts)
    undrained = sum(s["undrained"] for s in stats.values())
    if undrained:
        lines += [f"Note: {undrained} block(s) timed out waiting for callbacks to drain.", ""]
    return lines


def _order(config: str) -> int:
    return CONFIG_NAMES.index(config) if config in CONFIG_NAMES else len(CONFIG_NAMES)


def _sdk_verdicts(
    stats: dict[tuple[str, str, str], dict[str, Any]],
    path: str,
    scenarios: list[str],
    configs: list[str],
    sdk: dict[str, Any],
    verdicts: list[str],
) -> None:
    for config in OURS:
        if config not in configs or FLOOR not in configs:
            continue
        ratios, beaten_by = [], []
        for scenario in scenarios:
            ours = stats.get((path, scenario, config))
            floor = stats.get((path, scenario, FLOOR))
            if ours is None or floor is None:
                continue
            ratios.append((scenario, ours["cpu_ov"] / floor["cpu_ov"] if floor["cpu_ov"] > 0 else float("inf")))
            for peer in configs:
                if peer in (BASELINE, FLOOR, *OURS, *DIAGNOSIS):
                    continue
                stat = stats.get((path, scenario, peer))
                if stat is not None and stat["cpu_ov"] <= ours["cpu_ov"]:
                    spans = _describe(sdk, peer, path, scenario)[0]
                    beaten_by.append(f"{peer} on {scenario}" + (" (emits no spans there)" if spans == "0.0" else ""))
        within = [s for s, r in ratios if r <= FLOOR_TARGET]
        verdicts.append(
            f"| {config}, {path}: CPU overhead ≤ {FLOOR_TARGET}× floor | "
            + ", ".join(f"{s} {_fmt(r, 2)}×" for s, r in ratios)
            + " | "
            + ("met" if len(within) == len(ratios) else f"missed ({len(ratios) - len(within)}/{len(ratios)} scenarios)")
            + " |"
        )
        verdicts.append(
            f"| {config}, {path}: below every peer | "
            + ("cheaper than every peer in every scenario" if not beaten_by else "not below: " + "; ".join(beaten_by))
            + f" | {'met' if not beaten_by else 'missed'} |"
        )


def render_micro(micro: dict[str, Any], verdicts: list[str]) -> list[str]:
    lines = [
        "## 2. Floor microbenchmark: otel-llm record + emit vs raw SDK calls",
        "",
        "Same real LiteLLM callback payload, same pipeline; CPU µs per call (median over rounds, min…max). "
        "`raw_sdk` = 1 span with 10 attributes + 3 histogram points. `raw_sdk_same_telemetry` = otel-llm's own span "
        "(every attribute) and every metric point otel-llm's metric emitter writes for the payload (noted from the "
        "emitter, then replayed: its attribute sets, exemplars on duration and cost), precomputed and written with "
        "raw SDK calls: what the SDK charges for otel-llm's "
        "telemetry. `otel_llm` = what the callback does per call on providers the application owns (the SDK path): "
        "`build_record` + loop detection + `Telemetry.emit`; `otel_llm_lean` = the same on the lean path (otel-llm's "
        "metric store and lean spans, where otel-llm builds the pipeline: the proxy, the demo); the rows below are "
        "the SDK path's parts.",
        "",
        "| operation | SDK payload µs | proxy payload (key, team, end user) µs |",
        "|---|---:|---:|",
    ]
    sdk, proxy = micro.get("sdk_payload", {}), micro.get("proxy_payload", {})
    for op in (
        "raw_sdk",
        "raw_sdk_same_telemetry",
        "otel_llm",
        "otel_llm_lean",
        "build_record",
        "loop_observe",
        "emit_spans",
        "emit_metrics",
        "emit_headroom",
    ):
        cells = []
        for part in (sdk, proxy):
            value = part.get(op)
            cells.append(
                f"{_fmt(value['us_median'], 1)} ({_fmt(value['us_min'], 1)}…{_fmt(value['us_max'], 1)})"
                if value
                else "–"
            )
        lines.append(f"| {op} | {cells[0]} | {cells[1]} |")
    ratio_sdk, ratio_proxy = sdk.get("ratio_otel_llm_to_raw"), proxy.get("ratio_otel_llm_to_raw")
    lines.append(f"| **otel_llm / raw_sdk** | **{_fmt(ratio_sdk, 2)}×** | **{_fmt(ratio_proxy, 2)}×** |")
    same_sdk, same_proxy = sdk.get("ratio_otel_llm_to_same_telemetry"), proxy.get("ratio_otel_llm_to_same_telemetry")
    if same_sdk is not None:
        lines.append(
            "| otel_llm / raw_sdk_same_telemetry (otel-llm's own code) | "
            f"{_fmt(same_sdk, 2)}× | {_fmt(same_proxy, 2)}× |"
        )
    lean_sdk, lean_proxy = sdk.get("ratio_lean_to_same_telemetry"), proxy.get("ratio_lean_to_same_telemetry")
    if lean_sdk is not None:
        lines.append(
            f"| **otel_llm_lean / raw_sdk_same_telemetry** (lean path) | **{_fmt(lean_sdk, 2)}×** | "
            f"**{_fmt(lean_proxy, 2)}×** |"
        )
    lines.append("")
    encoding = micro.get("span_encoding") or {}
    if encoding:
        lines += [
            f"Span encoding, the proxy exporter's step: {encoding['spans_per_batch']}-span batches of otel-llm's "
            f"attempt span for the proxy payload ({encoding['attributes_per_span']} attributes): the SDK's OTLP "
            f"encoder {_fmt(encoding['sdk_us_per_span'], 1)} µs per span, otel-llm's wire encoder "
            f"{_fmt(encoding['wire_us_per_span'], 1)} µs ({_fmt(encoding['ratio_sdk_to_wire'], 1)}× less); "
            f"identical bytes: {'yes' if encoding['identical_bytes'] else '**no**'}.",
            "",
        ]
    usage = micro.get("usage_records") or {}
    if usage:
        lines += [
            f"Usage records (one OTLP log record per attempt, the proxy payload's): emitted, queued and encoded "
            f"through the SDK's log pipeline {_fmt(usage['sdk_us_per_record'], 1)} µs per record, through otel-llm's "
            f"(encoded when emitted) {_fmt(usage['wire_us_per_record'], 1)} µs "
            f"({_fmt(usage['ratio_sdk_to_wire'], 1)}× less).",
            "",
        ]
    for target, (on_sdk, on_proxy) in (
        (f"record+emit microbenchmark ≤ {FLOOR_TARGET}× raw SDK", (ratio_sdk, ratio_proxy)),
        (f"lean path: record+emit ≤ {FLOOR_TARGET}× raw SDK calls for the same telemetry", (lean_sdk, lean_proxy)),
    ):
        if on_sdk is not None:
            verdicts.append(
                f"| {target} | SDK payload {_fmt(on_sdk, 2)}×, proxy payload "
                f"{_fmt(on_proxy, 2)}× | " + ("met" if max(on_sdk, on_proxy or 0) <= FLOOR_TARGET else "missed") + " |"
            )
    return lines


def render_cardinality(cards: dict[str, Any], verdicts: list[str]) -> list[str]:
    lines = ["## 4. Cardinality and memory", ""]
    for label, card in cards.items():
        lines += [
            f"### {label}: attribution `{','.join(card['attribution'])}`, {card.get('pairing', 'stable')} pairing",
            "",
            f"{card['calls']:,} calls through `build_record` + `Telemetry.emit`, {card['users']:,} distinct end users, "
            f"{card['keys']:,} keys (50 teams); cap `OTEL_LLM_METRIC_ATTRIBUTE_VALUE_LIMIT={card['limit']}` per "
            "attribute. Cumulative in-memory reader: every series ever created is kept. "
            f"{_fmt(card['cpu_us_per_call'], 1)} µs CPU per call on average.",
            "",
            "| calls | RSS MiB | series (all metrics) | max series in one metric "
            "| max distinct values of one attribute |",
            "|---:|---:|---:|---:|---:|",
        ]
        for sample in card["samples"]:
            lines.append(
                f"| {sample['calls']:,} | {sample['rss_mb']:.1f} | {sample['series_total']:,} | "
                f"{sample['series_max_per_metric']:,} | {sample['distinct_max_per_attribute']} |"
            )
        lines.append("")
        # Flat = nothing grows over the second half of the run (the caps have long been reached).
        half = [x for x in card["samples"] if x["calls"] >= card["calls"] // 2]
        series_growth = half[-1]["series_total"] - half[0]["series_total"]
        rss_growth = half[-1]["rss_mb"] - half[0]["rss_mb"]
        ok = card["within_cap"] and series_growth == 0 and rss_growth < 5
        verdicts.append(
            f"| {label}: no growth of series or RSS beyond the cap | distinct values per attribute ≤ "
            f"{card['limit']}+1 (`_OTHER`): {'yes' if card['within_cap'] else 'NO'}; series "
            f"{card['samples'][0]['series_total']:,} at {card['samples'][0]['calls']:,} calls → "
            f"{card['series_final']:,} at {card['calls']:,} ({series_growth:+,} over the second half); RSS "
            f"{card['rss_first_mb']:.1f} → {card['rss_last_mb']:.1f} MiB ({rss_growth:+.1f} over the second half) "
            f"| {'met' if ok else 'missed'} |"
        )
    return lines


def render_churn(churn: dict[str, Any], verdicts: list[str]) -> list[str]:
    lines = [
        "## 4b. Keys that come and go (lean path)",
        "",
        f"{churn['calls']:,} proxy-style calls through `build_record` + `Telemetry.emit` on the lean path, over "
        f"{churn['keys']:,} keys of which {churn['active']:,} call at any moment (the window moves on through all "
        f"of them), on a simulated clock ({churn['simulated_s']:,} s of traffic); the metric store is collected "
        f"as an exporter would, every simulated minute. `OTEL_LLM_METRIC_IDLE_TIMEOUT={churn['idle_timeout_s']:g}`. "
        f"{_fmt(churn['cpu_us_per_call'], 1)} µs CPU per call on average.",
        "",
        "| calls | simulated s | keys seen | RSS MiB | series exported | per-key spend series | series in the store |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in churn["samples"]:
        lines.append(
            f"| {s['calls']:,} | {s['simulated_s']:,} | {s['keys_seen']:,} | {s['rss_mb']:.1f} | "
            f"{s['series_exported']:,} | {s['spend_series']:,} | {s['store_series']:,} |"
        )
    lines.append("")
    flat = churn["series_steady_max"] - churn["series_steady_min"] <= 0.1 * max(1, churn["series_steady_max"])
    ok = flat and churn["rss_steady_growth_mb"] < 5 and churn["spend_series_steady_max"] < churn["keys_seen"]
    verdicts.append(
        f"| churn: series and RSS flat once the idle timeout has passed | {churn['keys_seen']:,} keys seen, "
        f"series exported {churn['series_steady_min']:,}–{churn['series_steady_max']:,} (spend series ≤ "
        f"{churn['spend_series_steady_max']:,}); RSS {churn['rss_steady_first_mb']:.1f} → "
        f"{churn['rss_steady_last_mb']:.1f} MiB ({churn['rss_steady_growth_mb']:+.1f}) | {'met' if ok else 'missed'} |"
    )
    return lines


def render_proxy(proxy: dict[str, Any], verdicts: list[str]) -> list[str]:
    proxies = proxy["proxies"]
    chunks = proxy.get("stream_chunks") or 0
    if chunks:
        title = f"## 3b. LiteLLM proxy, streamed responses ({chunks} chunks)"
        requests = f"streamed chat completions ({chunks} chunks each)"
    else:
        title, requests = "## 3. LiteLLM proxy", "non-streaming chat completions"
    lines = [
        title,
        "",
        f"One worker per proxy, concurrency {proxy['concurrency']}, {requests} with a virtual "
        "key; blocks interleaved across the proxies. rps ratio = proxy ÷ `none` in the same round "
        "(median, min…max). CPU = user + system time of the proxy process (all threads) per request.",
        "",
        "| proxy | req/s | ratio to none | p50 ms | p99 ms | CPU ms per request | spans per request | errors "
        "| RSS start → end MiB | spans ended | spans exported "
        "| spans in failed exports | spans never exported | metric exports ok / failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, p in proxies.items():
        t = p.get("telemetry") or {}
        ended = t.get("spans_ended", 0)
        exported = t.get("spans_exported", 0)
        failed = t.get("spans_export_failed", 0)
        ratio = (
            f"{_fmt(p['rps_ratio_median'], 3)} ({_fmt(p['rps_ratio_min'], 3)}…{_fmt(p['rps_ratio_max'], 3)})"
            if p.get("rps_ratio_median") is not None
            else "–"
        )
        lines.append(
            f"| {name} | {_fmt(p['rps_median'], 1)} | {ratio} | {_fmt(p['p50_ms_median'], 1)} | "
            f"{_fmt(p['p99_ms_median'], 1)} | {_fmt(p.get('cpu_ms_per_request_median'), 2)} | "
            f"{_fmt(ended / p['requests'] if p.get('requests') else None, 1)} | "
            f"{p['errors']} | {p['rss_start_mb']:.0f} → {p['rss_end_mb']:.0f} | "
            f"{ended:,} | {exported:,} | {failed:,} | {max(0, ended - exported - failed):,} | "
            f"{t.get('metric_exports', 0)} / {t.get('metric_exports_failed', 0)} |"
        )
    lines.append("")
    ours = proxies.get("otel-llm")
    if ours and ours.get("rps_ratio_median") is not None:
        # Throughput is the target; tail latency is what a gateway's users feel, so it rides along.
        none = proxies.get("none") or {}
        tail = (
            f"; p99 {_fmt(ours['p99_ms_median'], 1)} ms vs {_fmt(none['p99_ms_median'], 1)} ms without"
            if none.get("p99_ms_median") is not None and ours.get("p99_ms_median") is not None
            else ""
        )
        streamed = f", streamed responses ({chunks} chunks)" if chunks else ""
        verdicts.append(
            f"| proxy throughput with the callback ≥ {PROXY_TARGET:.0%} of without{streamed} | "
            f"{ours['rps_ratio_median']:.1%} (rounds {ours['rps_ratio_min']:.1%}…{ours['rps_ratio_max']:.1%}){tail} | "
            f"{'met' if ours['rps_ratio_median'] >= PROXY_TARGET else 'missed'} |"
        )
    down = proxies.get("otel-llm-unreachable")
    if ours and down:
        verdicts.append(
            "| OTLP endpoint unreachable: latency unchanged, memory flat, drops counted | "
            f"p50 {_fmt(down['p50_ms_median'], 1)} ms vs {_fmt(ours['p50_ms_median'], 1)} ms reachable; "
            f"RSS {down['rss_start_mb']:.0f} → {down['rss_end_mb']:.0f} MiB; "
            f"{(down.get('telemetry') or {}).get('spans_ended', 0):,} spans ended, "
            f"{(down.get('telemetry') or {}).get('spans_exported', 0):,} exported | see table |"
        )
    return lines


def render(results: dict[str, Any]) -> str:
    verdicts: list[str] = []
    body: list[str] = []
    if "sdk" in results:
        body += render_sdk(results["sdk"], verdicts)
    if "micro" in results:
        body += render_micro(results["micro"], verdicts)
    if "proxy" in results:
        body += render_proxy(results["proxy"], verdicts)
    if "proxy_stream" in results:
        body += render_proxy(results["proxy_stream"], verdicts)
    if "cardinality" in results:
        body += render_cardinality(results["cardinality"], verdicts)
    if "churn" in results:
        body += render_churn(results["churn"], verdicts)
    versions = ", ".join(f"{k} {v}" for k, v in (results.get("versions") or {}).items() if v)
    head = [
        "# otel-llm benchmark results" + (" (SMOKE RUN: numbers are meaningless)" if results.get("smoke") else ""),
        "",
        f"Run {results.get('started')}, {results['machine']['cpus']} CPUs, Python {results['machine']['python']}; "
        f"{versions}; otel-llm at commit {results.get('otel_llm_commit') or '?'}"
        + (
            f" plus uncommitted changes to {', '.join(results['otel_llm_dirty'])}"
            if results.get("otel_llm_dirty")
            else ""
        )
        + f". Total {results['elapsed_s'] / 60:.1f} min"
        + (
            " (" + ", ".join(f"{k} {v:.0f} s" for k, v in results["section_s"].items()) + ")"
            if results.get("section_s")
            else ""
        )
        + (f" (environment setup {results['setup_s']:.0f} s)" if results.get("setup_s") else "")
        + ".",
        "",
    ]
    if results.get("skipped_configs"):
        head += [f"Skipped (not installed in this interpreter): {', '.join(results['skipped_configs'])}.", ""]
    if verdicts:
        head += ["## Targets", "", "| target | measured | verdict |", "|---|---|---|", *verdicts, ""]
    return "\n".join(head + body) + "\n"
