"""Building blocks of otel-llm's Grafana dashboards (generate.py): filters, PromQL helpers, panels.

Queries use the series names the Collector's prometheus exporter gives otel-llm's metrics (see
collector/README.md). Counters and histograms have one series per proxy worker: every query sums.
Who a series is about decides its filter: the histograms carry the model labels and the groups
(team, agent) but no key; the per-key counters carry key, team and agent; key gauges no agent.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import bargauge, common, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import prometheus as prometheus_model

DS = model.DataSourceRef(type_val="prometheus", uid="${datasource}")

# Template-variable filters. A series without the label (no key when called through the SDK, no
# agent when the call names none) still matches "All" (.*).
SERVICE = 'service_name=~"$service"'
GROUPS = f'{SERVICE}, otel_llm_team_alias=~"$team", gen_ai_agent_id=~"$agent"'
MODELS = 'otel_llm_model_group=~"$model", gen_ai_provider_name=~"$provider"'
# The histograms (and the economics counters): model labels and groups, no key.
CALLS = f"{GROUPS}, {MODELS}"
# Who called: the per-key counters, loop and refusal counters (key, team, agent).
WHO = f'{GROUPS}, otel_llm_key_alias=~"$key"'
KEYED_CALLS = f"{WHO}, {MODELS}"
# Key headroom gauges: key and team, no agent (a key's budget is all its agents').
KEY_GAUGES = f'{SERVICE}, otel_llm_team_alias=~"$team", otel_llm_key_alias=~"$key"'
PROVIDERS = f"{SERVICE}, {MODELS}"

DURATION = "gen_ai_client_operation_duration_seconds"
TTFT = "gen_ai_client_operation_time_to_first_chunk_seconds"
CHUNK = "gen_ai_client_operation_time_per_output_chunk_seconds"
# The per-key counters: exact per key (and agent, team, model group, provider).
REQUESTS = "otel_llm_client_requests_total"
SPEND = "otel_llm_client_spend_USD_total"
TOKENS = "otel_llm_client_tokens_total"
KEY = "otel_llm_key_alias"
TEAM = "otel_llm_team_alias"
AGENT = "gen_ai_agent_id"
MODEL = "otel_llm_model_group"
# The Collector's own counters (without `_total` in v0.159, with it in other versions).
SENT = "otelcol_exporter_sent"
FAILED = "otelcol_exporter_send_failed"
REFUSED = "otelcol_receiver_refused"

# Bars a bar gauge shows at most (one per key or team, highest first).
BARS = 50
# Rates of USD are USD per hour on the axes (Grafana's `currencyUSD` would read as a sum of dollars).
USD_PER_HOUR = "suffix: USD/h"
# The two dashboards' UIDs: the links between them, and the alerts' `dashboard` annotations.
SPEND_UID = "otel-llm-spend"
PERFORMANCE_UID = "otel-llm-performance"
# The proxy's LLM routes, as the availability rules (prometheus/rules/otel-llm.rules.yml) count them.
LLM_ROUTES = (
    ".*/(chat/completions|completions|embeddings|responses|messages)"
    "|/(anthropic|openai|vertex_ai|vertex-ai|gemini|bedrock|azure|cohere|mistral|vllm)/.*"
)
HTTP_REQUESTS = "http_server_request_duration_seconds_count"

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


def in_range(selector: str) -> str:
    """How much a counter grew in the dashboard's time range, per series, exactly for series born in
    it: a worker's series starts at its first value, which increase() cannot see, so a series with
    no sample in the 10 minutes before the range counts its whole value (and increase() the rest)."""
    born = f"({selector} unless last_over_time({selector}[10m] offset $__range))"
    return f"{born} or increase({selector}[$__range])"


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


def with_units(panel: Panel, units: dict[str, str]) -> Panel:
    """A table's columns (by their shown name) with units of their own."""
    for column, unit in units.items():
        panel = panel.override_by_name(column, [model.DynamicConfigValue(id_val="unit", value=unit)])
    return panel


def variable(name: str, label: str, target: str) -> dashboard.QueryVariable:
    """A multi-select filter offering the values of ``target`` on the per-key requests counter (every
    label a dashboard filters on: service, team, key, agent, model group, provider)."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(f"label_values({REQUESTS}, {target})")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


def keyed(expr: str) -> str:
    """``expr`` with keys that have no alias named by their hash's first 8 characters ("key 1a2b3c4d").

    Grouping by alias alone would merge every alias-less key into one blank series. The alias stays
    as it is where there is one, and blank where there is no key at all (SDK calls).
    """
    joined = f'label_join({expr}, "otel_llm_key", ";", "{KEY}", "otel_llm_key_hash")'
    return f'label_replace({joined}, "{KEY}", "key $1", "otel_llm_key", ";(.{{8}}).*")'


def agents(expr: str) -> str:
    """``expr`` with calls that name no agent shown as agent "(none)" instead of a blank series."""
    return f'label_replace({expr}, "{AGENT}", "(none)", "{AGENT}", "")'


def firing(title: str, description: str, alerts: str, width: int = 24) -> Panel:
    """A table of the alerts firing now (Prometheus' ALERTS series) whose name matches ``alerts``."""
    by = f"alertname, severity, service_name, {TEAM}, {KEY}, {AGENT}, {MODEL}"
    expr = f'sum by ({by}) (ALERTS{{alertstate="firing", alertname=~"{alerts}"}})'
    return grid(title, description, [query(expr, instant=True)], "short", width).decimals(0).height(6)


def base(uid: str, title: str, description: str, other: tuple[str, str]) -> dashboard.Dashboard:
    """A dashboard with the shared variables and a link to ``other`` (uid, title), keeping time and filters."""
    link = (
        dashboard.DashboardLink(other[1])
        .type(model.DashboardLinkType.LINK)
        .url(f"/d/{other[0]}")
        .icon("dashboard")
        .keep_time(True)
        .include_vars(True)
        .as_dropdown(False)
        .target_blank(False)
        .tooltip(f"Open {other[1]} with this time range and these filters")
    )
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
        .link(link)
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(variable("service", "Service", "service_name"))
        .with_variable(variable("team", "Team", TEAM))
        .with_variable(variable("key", "Key", KEY))
        .with_variable(variable("agent", "Agent", AGENT))
        .with_variable(variable("model", "Model", MODEL))
        .with_variable(variable("provider", "Provider", "gen_ai_provider_name"))
    )
