"""Prometheus series names of otel-llm's metrics through the Collector's prometheus exporter.

Found by running the real pipeline (proxy → ocb-built Collector → Prometheus 2.42); the end-to-end
tests check them again on every run (tests/collector/e2e/), ``SYNTHETIC`` (metrics the
test traffic cannot produce yet) in test_collector_pipeline.py. The static tests check that rules and
dashboards only use these names (or names recorded by the rules).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

COLLECTOR = Path(__file__).resolve().parents[2] / "collector"
# Where each alert's runbook_url points (collector/README.md: replace this prefix to serve the pages
# elsewhere), and the pages themselves.
RUNBOOK_BASE = "https://github.com/otel-llm/otel-llm/blob/main/docs/runbooks/"
RUNBOOKS = COLLECTOR.parent / "docs" / "runbooks"

# otel-llm metric → its Prometheus series (histograms: _bucket, _sum, _count).
HISTOGRAMS = {
    "gen_ai.client.operation.duration": "gen_ai_client_operation_duration_seconds",
    "gen_ai.client.token.usage": "gen_ai_client_token_usage",
    "gen_ai.client.operation.time_to_first_chunk": "gen_ai_client_operation_time_to_first_chunk_seconds",
    "gen_ai.client.operation.time_per_output_chunk": "gen_ai_client_operation_time_per_output_chunk_seconds",
    "otel_llm.client.cost": "otel_llm_client_cost_USD",
    "mcp.server.operation.duration": "mcp_server_operation_duration_seconds",
    "otel_llm.guardrail.duration": "otel_llm_guardrail_duration_seconds",
    "otel_llm.agent.call.duration": "otel_llm_agent_call_duration_seconds",
}
COUNTERS = {
    "otel_llm.client.requests": "otel_llm_client_requests_total",
    "otel_llm.client.spend": "otel_llm_client_spend_USD_total",
    "otel_llm.client.tokens": "otel_llm_client_tokens_total",
    "otel_llm.client.component_spend": "otel_llm_client_component_spend_USD_total",
    "otel_llm.client.cache_savings": "otel_llm_client_cache_savings_USD_total",
    "otel_llm.metric.overflow": "otel_llm_metric_overflow_total",
    "otel_llm.client.retries": "otel_llm_client_retries_total",
    "otel_llm.client.fallbacks": "otel_llm_client_fallbacks_total",
    "otel_llm.client.accounting_issues": "otel_llm_client_accounting_issues_total",
    "otel_llm.internal.errors": "otel_llm_internal_errors_total",
    "otel_llm.loop.detections": "otel_llm_loop_detections_total",
    "otel_llm.loop.refusals": "otel_llm_loop_refusals_total",
    "otel_llm.proxy.refusals": "otel_llm_proxy_refusals_total",
    "otel_llm.telemetry.dropped": "otel_llm_telemetry_dropped_total",
    "otel_llm.mcp.tool.calls": "otel_llm_mcp_tool_calls_total",
    "otel_llm.mcp.tool.spend": "otel_llm_mcp_tool_spend_USD_total",
    "otel_llm.guardrail.evaluations": "otel_llm_guardrail_evaluations_total",
    "otel_llm.agent.calls": "otel_llm_agent_calls_total",
    "otel_llm.budget.polls": "otel_llm_budget_polls_total",
}
GAUGES = {
    "otel_llm.key.spend": "otel_llm_key_spend_USD",
    "otel_llm.key.max_budget": "otel_llm_key_max_budget_USD",
    "otel_llm.key.budget.utilization": "otel_llm_key_budget_utilization_ratio",
    "otel_llm.team.spend": "otel_llm_team_spend_USD",
    "otel_llm.team.max_budget": "otel_llm_team_max_budget_USD",
    "otel_llm.team.budget.utilization": "otel_llm_team_budget_utilization_ratio",
    "otel_llm.key.rpm.limit": "otel_llm_key_rpm_limit_per_min",
    "otel_llm.key.rpm.utilization": "otel_llm_key_rpm_utilization_ratio",
    "otel_llm.key.tpm.limit": "otel_llm_key_tpm_limit_per_min",
    "otel_llm.key.tpm.utilization": "otel_llm_key_tpm_utilization_ratio",
    "otel_llm.team.rpm.limit": "otel_llm_team_rpm_limit_per_min",
    "otel_llm.team.rpm.utilization": "otel_llm_team_rpm_utilization_ratio",
    "otel_llm.team.tpm.limit": "otel_llm_team_tpm_limit_per_min",
    "otel_llm.team.tpm.utilization": "otel_llm_team_tpm_utilization_ratio",
    "otel_llm.key.spend_velocity": "otel_llm_key_spend_velocity_USD_per_min",
    "otel_llm.provider.ratelimit.remaining_requests": "otel_llm_provider_ratelimit_remaining_requests",
    "otel_llm.provider.ratelimit.remaining_tokens": "otel_llm_provider_ratelimit_remaining_tokens",
    "otel_llm.provider.ratelimit.limit_requests": "otel_llm_provider_ratelimit_limit_requests",
    "otel_llm.provider.ratelimit.limit_tokens": "otel_llm_provider_ratelimit_limit_tokens",
    "otel_llm.build.info": "otel_llm_build_info",
    # From LiteLLM's database only (the budget poller; the e2e stack's main proxy reads a real PostgreSQL).
    "otel_llm.key.budget.reset_time": "otel_llm_key_budget_reset_time_seconds",
    "otel_llm.key.blocked": "otel_llm_key_blocked",
    "otel_llm.team.budget.reset_time": "otel_llm_team_budget_reset_time_seconds",
    "otel_llm.team.blocked": "otel_llm_team_blocked",
}
# The Collector's own telemetry, as v0.159 serves it (counters without `_total`): the names of
# exporterhelper's and receiverhelper's instruments in the Collector's source; sent_spans,
# queue_size/capacity and refused_spans are also checked end to end. And Prometheus's `up`.
_SIGNALS = ("spans", "metric_points", "log_records")
COLLECTOR_SERIES = {
    *(f"otelcol_exporter_{what}_{signal}" for what in ("sent", "send_failed", "enqueue_failed") for signal in _SIGNALS),
    *(f"otelcol_receiver_{what}_{signal}" for what in ("accepted", "refused") for signal in _SIGNALS),
    "otelcol_exporter_queue_size",
    "otelcol_exporter_queue_capacity",
    "up",
}
# FastAPI's own request metric in the proxy (http.server.request.duration, kept by
# OTEL_LLM_PROXY_FASTAPI_TELEMETRY=server): the client-visible availability SLO's source.
HTTP_SERVER_SERIES = {f"http_server_request_duration_seconds_{suffix}" for suffix in ("bucket", "sum", "count")}
# The alerting path's own series (Prometheus scraping itself and Alertmanager), checked end to end.
ALERTING_SERIES = {
    "prometheus_rule_evaluation_failures_total",
    "prometheus_rule_evaluations_total",
    "prometheus_rule_group_last_duration_seconds",
    "alertmanager_notifications_failed_total",
    "alertmanager_notifications_total",
    "ALERTS",  # Prometheus' own series of the alerts it evaluates (runbooks query it)
}
# Not produced by the proxy test traffic: checked with synthetic OTLP through the real Collector in
# test_collector_pipeline.py. (The traffic includes a runaway loop, so loop detections are real.)
SYNTHETIC: set[str] = set()
# Only when something fails: otel-llm internal errors, loop refusals (block mode), spans the proxy
# dropped (named like every other counter: `_total`, the `{span}` unit dropped). The Collector's
# send_failed counter is checked in test_collector_pipeline.py with an exporter that fails.
NOT_IN_PROXY_TRAFFIC = SYNTHETIC | {
    "otel_llm_internal_errors_total",
    "otel_llm_loop_refusals_total",
    "otel_llm_telemetry_dropped_total",
    "otelcol_exporter_send_failed_spans",
}


def all_series() -> set[str]:
    """Every series name otel-llm's metrics can have in Prometheus."""
    names = {f"{base}_{suffix}" for base in HISTOGRAMS.values() for suffix in ("bucket", "sum", "count")}
    return (
        names | set(COUNTERS.values()) | set(GAUGES.values()) | COLLECTOR_SERIES | ALERTING_SERIES | HTTP_SERVER_SERIES
    )


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_NAME = re.compile(r"(?<![\w:.])[a-zA-Z_:][a-zA-Z0-9_:]*")
_FUNCTIONS_AND_KEYWORDS = {
    "sum", "min", "max", "avg", "count", "topk", "bottomk", "rate", "irate", "increase", "histogram_quantile",
    "label_replace", "last_over_time", "avg_over_time", "max_over_time", "absent", "clamp_min", "sort", "vector",
    "and", "or", "unless", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "time", "timestamp", "sort_desc", "round", "label_join", "scalar",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (strings, matchers, groupings and ranges removed)."""
    text = _RANGE.sub(" ", _GROUPING.sub(" ", _MATCHERS.sub(" ", _QUOTED.sub('""', expr))))
    return {
        token
        for token in _NAME.findall(text)
        if token not in _FUNCTIONS_AND_KEYWORDS and not re.fullmatch(r"[eE]\d*|Inf|NaN", token)
    }


# Labels only the per-key counters (and key gauges) carry: the histograms have the model labels and
# the groups (team, org, agent), never a key or a person.
KEY_LABELS = ("otel_llm_key_hash", "otel_llm_key_alias", "user_id", "enduser_id")
HISTOGRAM_SERIES = {f"{base}_{suffix}" for base in HISTOGRAMS.values() for suffix in ("bucket", "sum", "count")}
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^{}]*)\}")
_BY = re.compile(r"\bby \(([^()]*)\)\s*\(")


def _inside(expr: str, open_paren: int) -> str:
    """The text between the parenthesis at ``open_paren`` and its match."""
    depth = 0
    for index in range(open_paren, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[index], 0)
        if depth == 0:
            return expr[open_paren + 1 : index]
    return expr[open_paren + 1 :]


def key_labels_on_histograms(expr: str) -> list[str]:
    """Where ``expr`` reads a key label from a histogram, which has none: a matcher on a histogram
    series, or a grouping by a key label over an aggregation of histogram series only."""
    found = [
        m.group(0)
        for m in _SELECTOR.finditer(expr)
        if m.group(1) in HISTOGRAM_SERIES and any(k in m.group(2) for k in KEY_LABELS)
    ]
    for match in _BY.finditer(expr):
        if any(k in match.group(1) for k in KEY_LABELS):
            names = metric_names(_inside(expr, match.end() - 1))
            if names and names <= HISTOGRAM_SERIES:
                found.append(f"by ({match.group(1)}) over {sorted(names)}")
    return found


def name_patterns(expr: str) -> list[str]:
    """The regular expressions of ``{__name__=~"..."}`` selectors in an expression."""
    return re.findall(r'__name__=~"([^"]+)"', expr)


def rule_files() -> list[Path]:
    """collector/prometheus/rules/*.yml."""
    return sorted((COLLECTOR / "prometheus" / "rules").glob("*.yml"))


def recorded_names() -> set[str]:
    """Series the recording rules create."""
    names = set()
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names


def runbook_queries(text: str) -> list[str]:
    """The PromQL blocks (```promql) of a runbook page."""
    return [block.strip() for block in re.findall(r"```promql\n(.*?)```", text, re.DOTALL)]
