"""Generate otel-llm's Grafana dashboards (collector/grafana/dashboards/*.json) as code.

Built with the Grafana Foundation SDK (pin: ``grafana-foundation-sdk==0.0.21``; an unpinned
install can pick an old build for Grafana 10). Run ``python collector/grafana/generate.py`` after
editing; ``--check`` exits 1 when the committed JSON differs from what this file generates
(tests/collector/test_dashboards.py runs it in CI).

Queries use the series names the Collector's prometheus exporter gives otel-llm's metrics (see
collector/README.md). Counters and histograms have one series per proxy worker: every query sums.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, common, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import prometheus as prometheus_model

OUT = Path(__file__).parent / "dashboards"
DS = model.DataSourceRef(type_val="prometheus", uid="${datasource}")

# Template-variable filters. A series without the label (no key when called through the SDK)
# still matches "All" (.*).
WHO = 'service_name=~"$service", otel_llm_team_alias=~"$team", otel_llm_key_alias=~"$key"'
CALLS = f'{WHO}, otel_llm_model_group=~"$model", gen_ai_provider_name=~"$provider"'
PROVIDERS = 'service_name=~"$service", otel_llm_model_group=~"$model", gen_ai_provider_name=~"$provider"'
SERVICE = 'service_name=~"$service"'

DURATION = "gen_ai_client_operation_duration_seconds"
TTFT = "gen_ai_client_operation_time_to_first_chunk_seconds"
CHUNK = "gen_ai_client_operation_time_per_output_chunk_seconds"
COST = "otel_llm_client_cost_USD_sum"
TOKENS = "gen_ai_client_token_usage_sum"
KEY = "otel_llm_key_alias"
TEAM = "otel_llm_team_alias"
MODEL = "otel_llm_model_group"
# The Collector's own counters (without `_total` in v0.159, with it in other versions).
SENT = "otelcol_exporter_sent"
FAILED = "otelcol_exporter_send_failed"
REFUSED = "otelcol_receiver_refused"

# Bars a bar gauge shows at most (one per key or team, highest first).
BARS = 50

Panel = Any  # the SDK's panel builders share no public base class


def rate(by: str, selector: str, func: str = "rate", window: str = "$__rate_interval") -> str:
    """``sum by (<by>) (<func>(<selector>[<window>]))``."""
    return f"sum by ({by}) ({func}({selector}[{window}]))"


def per_signal(prefix: str, by: str) -> str:
    """The rate of a Collector counter summed per ``by`` and signal (spans, metric points, logs).

    One rate per signal, labelled: an exporter in several pipelines has the same labels for each.
    """
    rates = " or ".join(
        f'label_replace({rate_of}, "signal", "{signal}", "", "")'
        for signal in ("spans", "metric_points", "log_records")
        for rate_of in [f'rate({{__name__=~"{prefix}_{signal}(_total)?"}}[$__rate_interval])']
    )
    return f"sum by ({by}, signal) ({rates})"


def quantile(q: float, by: str, selector: str) -> str:
    """A quantile of a histogram summed over workers."""
    return f"histogram_quantile({q}, {rate(by, selector)})"


def query(expr: str, legend: str = "", *, instant: bool = False, exemplar: bool = False) -> prometheus.Dataquery:
    """A Prometheus query on the dashboard's datasource."""
    q = prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").datasource(DS)
    q = q.instant().format(prometheus_model.PromQueryFormat.TABLE) if instant else q.range()
    return q.exemplar(True) if exemplar else q


def _targets(panel: Panel, queries: list[prometheus.Dataquery]) -> Panel:
    for ref, q in zip("ABCDEFGH", queries, strict=False):
        panel = panel.with_target(q.ref_id(ref))
    return panel


def ts(title: str, description: str, queries: list[prometheus.Dataquery], unit: str, width: int = 12) -> Panel:
    """A time series panel."""
    legend = (
        common.VizLegendOptions()
        .show_legend(True)
        .display_mode(common_model.LegendDisplayMode.LIST)
        .placement(common_model.LegendPlacement.BOTTOM)
    )
    panel = timeseries.Panel().title(title).description(description).datasource(DS).unit(unit)
    return _targets(panel.height(8).span(width).fill_opacity(10).legend(legend), queries)


def bars(title: str, description: str, q: prometheus.Dataquery, width: int = 12) -> Panel:
    """A bar gauge of ratios (0-1) with the alert thresholds: orange at 80%, red at 100%.

    ``q`` is an instant table query: one row per key or team. The bar gauge shows every row (not a
    reduction of the whole column, Grafana's default), named by the row's labels, highest first.
    """
    steps = [model.Threshold(value=None, color="green"), model.Threshold(value=0.8, color="orange")]
    thresholds = (
        dashboard.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([*steps, model.Threshold(value=1, color="red")])
    )
    every_row = common.ReduceDataOptions().values(True).limit(BARS).calcs(["lastNotNull"])
    highest_first = model.DataTransformerConfig(id_val="sortBy", options={"sort": [{"field": "Value", "desc": True}]})
    panel = bargauge.Panel().title(title).description(description).datasource(DS).unit("percentunit")
    panel = panel.min(0).max(1).height(8).span(width).thresholds(thresholds).reduce_options(every_row)
    panel = panel.orientation(common_model.VizOrientation.HORIZONTAL).with_transformation(highest_first)
    return _targets(panel, [q])


def single(title: str, description: str, q: prometheus.Dataquery, unit: str, width: int = 6) -> Panel:
    """A stat panel."""
    panel = stat.Panel().title(title).description(description).datasource(DS).unit(unit)
    return _targets(panel.height(8).span(width), [q])


def grid(title: str, description: str, queries: list[prometheus.Dataquery], unit: str, width: int = 12) -> Panel:
    """A table panel."""
    panel = table.Panel().title(title).description(description).datasource(DS).unit(unit)
    return _targets(panel.height(8).span(width), queries)


def side_by_side(columns: dict[str, str]) -> list[model.DataTransformerConfig]:
    """Merge instant table queries into one row per label set, keep ``columns`` (field → title), in order."""
    organize = {
        "excludeByName": {"Time": True},
        "indexByName": {field: index for index, field in enumerate(columns)},
        "renameByName": columns,
    }
    return [
        model.DataTransformerConfig(id_val="merge", options={}),
        model.DataTransformerConfig(id_val="organize", options=organize),
    ]


def _variable(name: str, label: str, target: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(f"label_values({DURATION}_count, {target})")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


def _base(uid: str, title: str, description: str) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["otel-llm", "litellm", "llm"])
        .editable()
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(_variable("service", "Service", "service_name"))
        .with_variable(_variable("team", "Team", TEAM))
        .with_variable(_variable("key", "Key", KEY))
        .with_variable(_variable("model", "Model", MODEL))
        .with_variable(_variable("provider", "Provider", "gen_ai_provider_name"))
    )


def spend_dashboard() -> dashboard.Dashboard:
    """LLM spend and usage: spend by key/team/model/provider, tokens, budgets, top spenders."""
    cost = f"{COST}{{{CALLS}}}"
    tokens = f"{TOKENS}{{{CALLS}}}"
    per_hour = " * 3600"
    top = f"topk(10, {rate(f'{KEY}, {TEAM}', cost, 'increase', '$__range')})"
    return (
        _base("otel-llm-spend", "LLM spend and usage", "What LiteLLM calls cost and who made them (otel-llm).")
        .with_row(dashboard.Row("Spend"))
        .with_panel(
            single(
                "Spend in range",
                "USD spent in the selected time range (LiteLLM's response_cost).",
                query(f"sum(increase({cost}[$__range]))"),
                "currencyUSD",
            )
        )
        .with_panel(
            grid(
                "Top spenders",
                "The 10 keys that spent most in the time range.",
                [query(top, instant=True)],
                "currencyUSD",
                18,
            )
        )
        .with_panel(
            ts(
                "Spend by key",
                "USD per hour by virtual key.",
                [query(rate(KEY, cost) + per_hour, f"{{{{{KEY}}}}}")],
                "currencyUSD",
            )
        )
        .with_panel(
            ts(
                "Spend by team",
                "USD per hour by team.",
                [query(rate(TEAM, cost) + per_hour, f"{{{{{TEAM}}}}}")],
                "currencyUSD",
            )
        )
        .with_panel(
            ts("Spend by model", "USD per hour by model group.", [query(rate(MODEL, cost) + per_hour)], "currencyUSD")
        )
        .with_panel(
            ts(
                "Spend by provider",
                "USD per hour by provider.",
                [query(rate("gen_ai_provider_name", cost) + per_hour, "{{gen_ai_provider_name}}")],
                "currencyUSD",
            )
        )
        .with_row(dashboard.Row("Usage"))
        .with_panel(
            ts(
                "Prompt vs completion tokens",
                "Tokens per second: input (prompt) and output (completion).",
                [query(rate("gen_ai_token_type", tokens), "{{gen_ai_token_type}}")],
                "short",
            )
        )
        .with_panel(
            ts(
                "Tokens by model",
                "Tokens per second by model group and type.",
                [query(rate(f"{MODEL}, gen_ai_token_type", tokens), f"{{{{{MODEL}}}}} {{{{gen_ai_token_type}}}}")],
                "short",
            )
        )
        .with_panel(
            ts(
                "Calls by key",
                "LLM calls per second (every attempt) by key.",
                [query(rate(KEY, f"{DURATION}_count{{{CALLS}}}"), f"{{{{{KEY}}}}}")],
                "reqps",
            )
        )
        .with_panel(
            ts(
                "Accounting issues",
                "Calls whose tokens LiteLLM estimated or never got, or that it could not price (cost 0).",
                [
                    query(
                        rate(
                            "otel_llm_accounting_issue",
                            f"otel_llm_client_accounting_issues_total{{{CALLS}}}",
                            "increase",
                        )
                    )
                ],
                "short",
            )
        )
        .with_row(dashboard.Row("Budgets"))
        .with_panel(
            bars(
                "Key budget used",
                "Spend / max_budget per key as LiteLLM reports it (alerts at 80% and 100%).",
                query(f"max by ({KEY}, {TEAM}) (otel_llm_key_budget_utilization_ratio{{{WHO}}})", instant=True),
            )
        )
        .with_panel(
            bars(
                "Team budget used",
                "Spend / max_budget per team.",
                query(
                    f'max by ({TEAM}) (otel_llm_team_budget_utilization_ratio{{{SERVICE}, {TEAM}=~"$team"}})',
                    instant=True,
                ),
            )
        )
        .with_panel(
            grid(
                "Key spend and budget",
                "Each key's spend and max_budget in USD, as LiteLLM last reported them (one row per key).",
                [
                    query(f"max by ({KEY}, {TEAM}) (otel_llm_key_spend_USD{{{WHO}}})", instant=True),
                    query(f"max by ({KEY}, {TEAM}) (otel_llm_key_max_budget_USD{{{WHO}}})", instant=True),
                ],
                "currencyUSD",
                24,
            ).transformations(side_by_side({KEY: "Key", TEAM: "Team", "Value #A": "Spend", "Value #B": "Max budget"}))
        )
    )


def performance_dashboard() -> dashboard.Dashboard:
    """LLM performance and reliability: traffic, errors, latency, TTFT, routing, headroom, loops, pipeline."""
    calls = f"{DURATION}_count{{{CALLS}}}"
    failed = f'{DURATION}_count{{{CALLS}, error_type!=""}}'
    ok_buckets = f'{DURATION}_bucket{{{CALLS}, error_type=""}}'
    ttft = f"{TTFT}_bucket{{{CALLS}}}"
    model_legend = f"{{{{{MODEL}}}}}"
    deployment = f"{MODEL}, otel_llm_deployment_id"
    remaining = f"otel_llm_provider_ratelimit_remaining_requests{{{PROVIDERS}}}"
    limit = f"otel_llm_provider_ratelimit_limit_requests{{{PROVIDERS}}}"
    loops = f"otel_llm_loop_detections_total{{{WHO}}}"
    loop_by = f"{KEY}, {TEAM}, {MODEL}, otel_llm_loop_reason, otel_llm_loop_action"
    # A worker's counter series starts at its first detection's value, which increase() cannot see:
    # a series born in the range counts in full (as in the LLMRunawayLoopDetected alert).
    born = f"{loops} unless last_over_time({loops}[1d] offset $__range)"
    loops_in_range = f"sum by ({loop_by}) (({born}) or increase({loops}[$__range])) > 0"
    dropped = f"otel_llm_telemetry_dropped_total{{{SERVICE}}}"
    no_failures = f"{per_signal(SENT, 'exporter')} * 0"
    no_errors = f"{rate('service_name', calls)} * 0"
    internal = f"otel_llm_internal_errors_total{{{SERVICE}}}"
    refusals = f"otel_llm_proxy_refusals_total{{{WHO}}}"
    return (
        _base(
            "otel-llm-performance",
            "LLM performance and reliability",
            "How LiteLLM calls behave (otel-llm): traffic, errors, latency, routing, headroom, loops, pipeline.",
        )
        .with_row(dashboard.Row("Traffic and errors"))
        .with_panel(
            ts(
                "Requests per second",
                "LLM calls per second (every attempt: retries and fallbacks included) by model group.",
                [query(rate(MODEL, calls), model_legend)],
                "reqps",
                8,
            )
        )
        .with_panel(
            ts(
                "Error ratio",
                "Share of failed calls by model group.",
                [query(f"{rate(MODEL, failed)} / {rate(MODEL, calls)}", model_legend)],
                "percentunit",
                8,
            )
        )
        .with_panel(
            ts(
                "Errors by type",
                "Failed calls per second by error type (LiteLLM's exception class) and model group.",
                [query(rate(f"error_type, {MODEL}", failed), f"{{{{error_type}}}} {model_legend}")],
                "reqps",
                8,
            )
        )
        .with_panel(
            ts(
                "Refused by the proxy",
                "Requests LiteLLM refused before calling any provider (unknown key or model, budget, rate "
                "limit, guardrail, loop guard), per second, by key, error type and HTTP status. Not in the "
                "error ratio: no LLM call failed.",
                [
                    query(
                        rate(f"{KEY}, error_type, http_response_status_code", refusals),
                        f"{{{{{KEY}}}}} {{{{error_type}}}} {{{{http_response_status_code}}}}",
                    )
                ],
                "reqps",
                24,
            )
        )
        .with_row(dashboard.Row("Latency"))
        .with_panel(
            ts(
                "Latency p50 / p95 / p99",
                "Duration of successful calls. Exemplars link to the trace in Tempo.",
                [query(quantile(q, "le", ok_buckets), f"p{round(q * 100)}", exemplar=True) for q in (0.5, 0.95, 0.99)],
                "s",
            )
        )
        .with_panel(
            ts(
                "p95 latency by model",
                "95th percentile duration of successful calls by model group.",
                [query(quantile(0.95, f"le, {MODEL}", ok_buckets), model_legend, exemplar=True)],
                "s",
            )
        )
        .with_panel(
            ts(
                "Time to first token p50 / p95",
                "Streams: time until the first chunk arrived.",
                [query(quantile(q, "le", ttft), f"p{round(q * 100)}", exemplar=True) for q in (0.5, 0.95)],
                "s",
                8,
            )
        )
        .with_panel(
            ts(
                "Time per output chunk p95",
                "Streams: time between chunks after the first (needs otel-llm's live spans).",
                [query(quantile(0.95, f"le, {MODEL}", f"{CHUNK}_bucket{{{CALLS}}}"), model_legend)],
                "s",
                8,
            )
        )
        .with_panel(
            ts(
                "Latency SLO: calls within 10.24 s",
                "Share of successful calls within the latency objective over 5 minutes (objective: 95%).",
                [
                    query(
                        f'1 - otel_llm_model_group:latency_slo_bad_ratio:rate5m{{{SERVICE}, {MODEL}=~"$model"}}',
                        model_legend,
                    )
                ],
                "percentunit",
                8,
            )
        )
        .with_row(dashboard.Row("Retries and fallbacks"))
        .with_panel(
            ts(
                "Retries",
                "Retries per second by model group and the error that was retried.",
                [
                    query(
                        rate(f"{MODEL}, error_type", f'otel_llm_client_retries_total{{{SERVICE}, {MODEL}=~"$model"}}'),
                        f"{model_legend} {{{{error_type}}}}",
                    )
                ],
                "reqps",
            )
        )
        .with_panel(
            ts(
                "Fallbacks",
                "Fallbacks per second from one model group to another.",
                [
                    query(
                        rate(
                            "otel_llm_fallback_from_model_group, otel_llm_fallback_to_model_group",
                            f"otel_llm_client_fallbacks_total{{{SERVICE}}}",
                        ),
                        "{{otel_llm_fallback_from_model_group}} → {{otel_llm_fallback_to_model_group}}",
                    )
                ],
                "reqps",
            )
        )
        .with_row(dashboard.Row("Rate-limit headroom"))
        .with_panel(
            bars(
                "Key rpm limit used",
                "Share of each key's requests-per-minute limit in use (LiteLLM's rate-limit headers).",
                query(f"max by ({KEY}) (otel_llm_key_rpm_utilization_ratio{{{WHO}}})", instant=True),
                6,
            )
        )
        .with_panel(
            bars(
                "Key tpm limit used",
                "Share of each key's tokens-per-minute limit in use.",
                query(f"max by ({KEY}) (otel_llm_key_tpm_utilization_ratio{{{WHO}}})", instant=True),
                6,
            )
        )
        .with_panel(
            ts(
                "Provider requests left",
                "x-ratelimit-remaining-requests per deployment, as a share of the provider's limit.",
                [query(f"min by ({deployment}) ({remaining} / {limit})")],
                "percentunit",
                6,
            )
        )
        .with_panel(
            ts(
                "Provider tokens left",
                "x-ratelimit-remaining-tokens per deployment.",
                [query(f"min by ({deployment}) (otel_llm_provider_ratelimit_remaining_tokens{{{PROVIDERS}}})")],
                "short",
                6,
            )
        )
        .with_row(dashboard.Row("Runaway loops"))
        .with_panel(
            grid(
                "Loop detections",
                "Runaway agent loops otel-llm detected in the time range, by key, model, reason and action "
                "(keys without detections are not listed).",
                [query(loops_in_range, instant=True)],
                "short",
            ).decimals(0)
        )
        .with_panel(
            ts(
                "Spend velocity by key",
                "USD per minute each key spent in the last minute (alert: 3x its usual pace).",
                [query(f"max by ({KEY}) (otel_llm_key_spend_velocity_USD_per_min{{{WHO}}})", f"{{{{{KEY}}}}}")],
                "currencyUSD",
            )
        )
        .with_row(dashboard.Row("Telemetry pipeline"))
        .with_panel(
            ts(
                "Collector up",
                "1 when Prometheus can scrape the Collector's exporter and its own telemetry.",
                [query('up{job=~"otel-collector.*"}', "{{job}}")],
                "short",
                8,
            )
        )
        .with_panel(
            ts(
                "Exporter sent / failed",
                "Items per second each exporter sent, and gave up on (0 when none failed).",
                [
                    query(per_signal(SENT, "exporter"), "sent {{exporter}} {{signal}}"),
                    query(f"{per_signal(FAILED, 'exporter')} or {no_failures}", "failed {{exporter}} {{signal}}"),
                ],
                "short",
                8,
            )
        )
        .with_panel(
            ts(
                "Exporter queue used",
                "Sending queue size / capacity per exporter (alert over 80%).",
                [query("max by (exporter) (otelcol_exporter_queue_size / otelcol_exporter_queue_capacity)")],
                "percentunit",
                8,
            )
        )
        .with_panel(
            ts(
                "Refused and internal errors",
                "Items the Collector refused (memory limit), and otel-llm internal errors (0 when none).",
                [
                    query(per_signal(REFUSED, "receiver"), "refused {{receiver}} {{signal}}"),
                    query(f"{rate('service_name', internal, 'increase')} or {no_errors}", "otel-llm {{service_name}}"),
                ],
                "short",
            )
        )
        .with_panel(
            ts(
                "Spans dropped by otel-llm",
                "Spans per second otel-llm's proxy pipeline dropped instead of exporting, by reason: "
                "export_failed (the export failed) or endpoint_down (dropped at once for 5 s after a "
                "failure). 0 when none were dropped.",
                [
                    query(
                        f"{rate('service_name, otel_llm_drop_reason', dropped)} or on (service_name) {no_errors}",
                        "{{service_name}} {{otel_llm_drop_reason}}",
                    )
                ],
                "short",
            )
        )
        .with_panel(
            grid(
                "Processes exporting, by version",
                "Processes (workers, replicas, SDK apps) whose otel-llm telemetry arrives now, by service and "
                "by otel-llm and LiteLLM version (otel_llm_build_info, sent at every export; a service "
                "missing here for 5 min fires OtelLLMTelemetryStopped).",
                [
                    query(
                        f"count by (service_name, otel_llm_version, otel_llm_litellm_version) "
                        f"(otel_llm_build_info{{{SERVICE}}})",
                        instant=True,
                    )
                ],
                "short",
            ).decimals(0)
        )
    )


DASHBOARDS = {
    "llm-spend-and-usage.json": spend_dashboard,
    "llm-performance-and-reliability.json": performance_dashboard,
}


def render() -> dict[str, str]:
    """The JSON text of every dashboard, by file name."""
    texts = {}
    for name, build in DASHBOARDS.items():
        board = build().build()
        for number, panel in enumerate(board.panels or [], start=1):
            panel.id_val = number  # Grafana links and edits panels by id: unique, stable
        texts[name] = json.dumps(board, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
    return texts


def main(argv: list[str] | None = None) -> int:
    """Write the dashboards; with --check, exit 1 naming the committed files that are out of date."""
    parser = argparse.ArgumentParser(description="Generate otel-llm's Grafana dashboards.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is out of date")
    parser.add_argument("--out", type=Path, default=OUT, help=f"directory of the JSON files (default {OUT})")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run: python collector/grafana/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
