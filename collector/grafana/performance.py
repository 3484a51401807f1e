"""The "LLM performance and reliability" dashboard: what clients see, how attempts behave by model,
deployment and provider, agents, SLOs, routing, rate-limit headroom and runaway loops. Sections are
functions returning panels (the telemetry pipeline's is in pipeline.py); a new one is one function
and one line in ``SECTIONS``. Latency and attempts come from the histograms, which carry model
labels, team and agent but no key: with a key selected they show all keys."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from panels import (
    AGENT,
    CALLS,
    CHUNK,
    DURATION,
    HTTP_REQUESTS,
    KEY,
    KEY_GAUGES,
    LLM_ROUTES,
    MODEL,
    PERFORMANCE_UID,
    PROVIDERS,
    SERVICE,
    SPEND_UID,
    TEAM,
    TTFT,
    WHO,
    Panel,
    agents,
    bars,
    base,
    firing,
    grid,
    keyed,
    quantile,
    query,
    rate,
    ts,
)
from pipeline import pipeline

ATTEMPTS = f"{DURATION}_count{{{CALLS}}}"
FAILED = f'{DURATION}_count{{{CALLS}, error_type!=""}}'
OK_BUCKETS = f'{DURATION}_bucket{{{CALLS}, error_type=""}}'
OK_TTFT = f'{TTFT}_bucket{{{CALLS}, error_type=""}}'
MODEL_LEGEND = f"{{{{{MODEL}}}}}"
DEPLOYMENT = f"{MODEL}, otel_llm_deployment_id, gen_ai_provider_name"
DEPLOYMENT_LEGEND = "{{otel_llm_model_group}} {{otel_llm_deployment_id}} ({{gen_ai_provider_name}})"
REQUESTS = f'{HTTP_REQUESTS}{{{SERVICE}, http_route=~"{LLM_ROUTES}"}}'
SERVER_ERRORS = f'{HTTP_REQUESTS}{{{SERVICE}, http_route=~"{LLM_ROUTES}", http_response_status_code=~"5..|408"}}'


def _alerts() -> list[Panel]:
    return [
        firing(
            "Alerts firing",
            "Every alert firing now, with what it is about; the Slack message links each one's runbook.",
            ".+",
        )
    ]


def _clients() -> list[Panel]:
    no_errors = f"{rate('service_name', REQUESTS)} * 0"
    return [
        ts(
            "Requests answered with an error (clients)",
            "Share of LLM requests the proxy answered with a server error (5xx, 408) after LiteLLM's "
            "retries and fallbacks: what clients see (availability SLO: 99.5%). Failed attempts that a "
            "retry or fallback recovered are not here; 4xx refusals are the caller's.",
            [
                query(
                    f"sum by (service_name) (rate({SERVER_ERRORS}[$__rate_interval])) / "
                    f"(sum by (service_name) (rate({REQUESTS}[$__rate_interval])) > 0) or {no_errors}",
                    "{{service_name}}",
                )
            ],
            "percentunit",
            8,
        ),
        ts(
            "Failed attempts",
            "Share of LLM attempts that failed, by model group: provider health. Every retry and "
            "fallback hop is an attempt, so this is above what clients see while fallbacks work.",
            [query(f"{rate(MODEL, FAILED)} / {rate(MODEL, ATTEMPTS)} or {rate(MODEL, ATTEMPTS)} * 0", MODEL_LEGEND)],
            "percentunit",
            8,
        ),
        ts(
            "Client errors by route and status",
            "LLM requests per second answered with a server error, by route and HTTP status (0 when none).",
            [
                query(
                    f"{rate('http_route, http_response_status_code', SERVER_ERRORS)} or {no_errors}",
                    "{{http_route}} {{http_response_status_code}}",
                )
            ],
            "reqps",
            8,
        ),
    ]


def _traffic() -> list[Panel]:
    refusals = f"otel_llm_proxy_refusals_total{{{WHO}}}"
    loop_refusals = f"otel_llm_loop_refusals_total{{{WHO}}}"
    no_calls = f"{rate('service_name', ATTEMPTS)} * 0"
    return [
        ts(
            "Requests per second",
            "LLM calls per second (every attempt: retries and fallbacks included) by model group.",
            [query(rate(MODEL, ATTEMPTS), MODEL_LEGEND)],
            "reqps",
            8,
        ),
        ts(
            "Errors by type",
            "Failed attempts per second by error type (LiteLLM's exception class) and model group.",
            [query(rate(f"error_type, {MODEL}", FAILED), f"{{{{error_type}}}} {MODEL_LEGEND}")],
            "reqps",
            8,
        ),
        ts(
            "Refused by the proxy",
            "Requests LiteLLM refused before calling any provider (unknown key or model, budget, rate "
            "limit, guardrail, loop guard), per second, by key, error type and HTTP status. Not in the "
            "error ratios: no LLM call failed.",
            [
                query(
                    f"sum by ({KEY}, error_type, http_response_status_code) "
                    f"({keyed(f'rate({refusals}[$__rate_interval])')})",
                    f"{{{{{KEY}}}}} {{{{error_type}}}} {{{{http_response_status_code}}}}",
                )
            ],
            "reqps",
            8,
        ),
        ts(
            "Loop guard refusals",
            "Requests otel-llm's loop guard refused (OTEL_LLM_LOOP_MODE=block, HTTP 429) during a runaway "
            "loop's cool-down, per second, by key, agent and reason (0 when none).",
            [
                query(
                    f"sum by ({KEY}, {AGENT}, otel_llm_loop_reason) "
                    f"({agents(keyed(f'rate({loop_refusals}[$__rate_interval])'))}) or on (service_name) {no_calls}",
                    f"{{{{{KEY}}}}} {{{{{AGENT}}}}} {{{{otel_llm_loop_reason}}}}",
                )
            ],
            "reqps",
            24,
        ),
    ]


def _deployments() -> list[Panel]:
    return [
        ts(
            "p95 latency by deployment",
            "95th percentile duration of successful attempts by model group, deployment and provider.",
            [query(quantile(0.95, f"le, {DEPLOYMENT}", OK_BUCKETS), DEPLOYMENT_LEGEND, exemplar=True)],
            "s",
        ),
        ts(
            "Failed attempts by deployment",
            "Failed attempts per second by model group, deployment, provider and error type.",
            [query(rate(f"{DEPLOYMENT}, error_type", FAILED), f"{DEPLOYMENT_LEGEND} {{{{error_type}}}}")],
            "reqps",
        ),
    ]


def _agents() -> list[Panel]:
    by_agent = f"le, {AGENT}"
    failed = f"sum by ({AGENT}) ({agents(f'rate({FAILED}[$__rate_interval])')})"
    attempts = f"sum by ({AGENT}) ({agents(f'rate({ATTEMPTS}[$__rate_interval])')})"
    return [
        ts(
            "p95 latency by agent",
            "95th percentile duration of successful attempts by agent (gen_ai.agent.id; (none): calls that "
            "name no agent).",
            [
                query(
                    f"histogram_quantile(0.95, sum by ({by_agent}) "
                    f"({agents(f'rate({OK_BUCKETS}[$__rate_interval])')}))",
                    f"{{{{{AGENT}}}}}",
                    exemplar=True,
                )
            ],
            "s",
        ),
        ts(
            "Failed attempts by agent",
            "Share of each agent's LLM attempts that failed (retries and fallback hops included).",
            [query(f"{failed} / {attempts} or {attempts} * 0", f"{{{{{AGENT}}}}}")],
            "percentunit",
        ),
    ]


def _latency() -> list[Panel]:
    return [
        ts(
            "Latency p50 / p95 / p99",
            "Duration of successful calls. Exemplars link to the trace in Tempo.",
            [query(quantile(q, "le", OK_BUCKETS), f"p{round(q * 100)}", exemplar=True) for q in (0.5, 0.95, 0.99)],
            "s",
        ),
        ts(
            "p95 latency by model",
            "95th percentile duration of successful calls by model group.",
            [query(quantile(0.95, f"le, {MODEL}", OK_BUCKETS), MODEL_LEGEND, exemplar=True)],
            "s",
        ),
        ts(
            "Time to first token p50 / p95 / p99",
            "Successful streams: time until the first chunk arrived (failed streams left out, as for latency).",
            [query(quantile(q, "le", OK_TTFT), f"p{round(q * 100)}", exemplar=True) for q in (0.5, 0.95, 0.99)],
            "s",
        ),
        ts(
            "Time per output chunk p95",
            "Streams: time between chunks after the first (needs otel-llm's live spans).",
            [query(quantile(0.95, f"le, {MODEL}", f"{CHUNK}_bucket{{{CALLS}}}"), MODEL_LEGEND)],
            "s",
        ),
    ]


def _slos() -> list[Panel]:
    groups = f'{SERVICE}, {MODEL}=~"$model"'
    return [
        ts(
            "Availability SLO: requests without a server error",
            "Share of LLM requests answered without a server error over 5 minutes (objective: 99.5%).",
            [query(f"1 - otel_llm_service:availability_slo_bad_ratio:rate5m{{{SERVICE}}}", "{{service_name}}")],
            "percentunit",
            8,
        ),
        ts(
            "Latency SLO: calls within 10.24 s",
            "Share of successful calls within the latency objective over 5 minutes (objective: 95%).",
            [query(f"1 - otel_llm_model_group:latency_slo_bad_ratio:rate5m{{{groups}}}", MODEL_LEGEND)],
            "percentunit",
            8,
        ),
        ts(
            "TTFT SLO: streams within 2.5 s",
            "Share of successful streams whose first token came within 2.5 s, over 5 minutes (objective: 95%).",
            [query(f"1 - otel_llm_model_group:ttft_slo_bad_ratio:rate5m{{{groups}}}", MODEL_LEGEND)],
            "percentunit",
            8,
        ),
    ]


def _routing() -> list[Panel]:
    return [
        ts(
            "Retries",
            "Retries per second by model group and the error that was retried.",
            [
                query(
                    rate(f"{MODEL}, error_type", f'otel_llm_client_retries_total{{{SERVICE}, {MODEL}=~"$model"}}'),
                    f"{MODEL_LEGEND} {{{{error_type}}}}",
                )
            ],
            "reqps",
        ),
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
        ),
    ]


def _headroom() -> list[Panel]:
    teams = f'{SERVICE}, {TEAM}=~"$team"'
    remaining = f"otel_llm_provider_ratelimit_remaining_requests{{{PROVIDERS}}}"
    limit = f"otel_llm_provider_ratelimit_limit_requests{{{PROVIDERS}}}"
    deployment = f"{MODEL}, otel_llm_deployment_id"

    def key_bars(title: str, description: str, metric: str) -> Panel:
        return bars(
            title, description, query(f"max by ({KEY}) ({keyed(f'{metric}{{{KEY_GAUGES}}}')})", instant=True), 6
        )

    def team_bars(title: str, description: str, metric: str) -> Panel:
        return bars(title, description, query(f"max by ({TEAM}) ({metric}{{{teams}}})", instant=True), 6)

    return [
        key_bars(
            "Key rpm limit used",
            "Share of each key's requests-per-minute limit in use (LiteLLM's rate-limit headers).",
            "otel_llm_key_rpm_utilization_ratio",
        ),
        key_bars(
            "Key tpm limit used",
            "Share of each key's tokens-per-minute limit in use.",
            "otel_llm_key_tpm_utilization_ratio",
        ),
        team_bars(
            "Team rpm limit used",
            "Share of each team's requests-per-minute limit in use (all its keys together).",
            "otel_llm_team_rpm_utilization_ratio",
        ),
        team_bars(
            "Team tpm limit used",
            "Share of each team's tokens-per-minute limit in use (all its keys together).",
            "otel_llm_team_tpm_utilization_ratio",
        ),
        ts(
            "Provider requests left",
            "x-ratelimit-remaining-requests per deployment, as a share of the provider's limit.",
            [query(f"min by ({deployment}) ({remaining} / {limit})")],
            "percentunit",
        ),
        ts(
            "Provider tokens left",
            "x-ratelimit-remaining-tokens per deployment.",
            [query(f"min by ({deployment}) (otel_llm_provider_ratelimit_remaining_tokens{{{PROVIDERS}}})")],
            "short",
        ),
    ]


def _loops() -> list[Panel]:
    loops = f"otel_llm_loop_detections_total{{{WHO}}}"
    loop_by = f"{KEY}, {TEAM}, {AGENT}, {MODEL}, otel_llm_loop_reason, otel_llm_loop_action"
    # A worker's counter series starts at its first detection's value, which increase() cannot see:
    # a series born in the range counts in full (as in the LLMRunawayLoopDetected alert).
    born = f"{loops} unless last_over_time({loops}[1d] offset $__range)"
    loops_in_range = f"sum by ({loop_by}) ({agents(keyed(f'({born}) or increase({loops}[$__range])'))}) > 0"
    return [
        grid(
            "Loop detections",
            "Runaway agent loops otel-llm detected in the time range, by key, agent ((none): the calls named "
            "none), model, reason and action (keys without detections are not listed).",
            [query(loops_in_range, instant=True)],
            "short",
        ).decimals(0),
        ts(
            "Spend velocity by key",
            "USD per minute each key spent in the last minute (alert: 3x its usual pace).",
            [
                query(
                    f"max by ({KEY}) ({keyed(f'otel_llm_key_spend_velocity_USD_per_min{{{KEY_GAUGES}}}')})",
                    f"{{{{{KEY}}}}}",
                )
            ],
            "suffix: USD/min",
        ),
    ]


# (row title, panels): the dashboard's sections, top to bottom.
SECTIONS = (
    ("Alerts", _alerts),
    ("What clients see", _clients),
    ("Traffic and refusals", _traffic),
    ("By deployment and provider", _deployments),
    ("Agents", _agents),
    ("Latency", _latency),
    ("SLOs", _slos),
    ("Retries and fallbacks", _routing),
    ("Rate-limit headroom", _headroom),
    ("Runaway loops", _loops),
    ("Telemetry pipeline", pipeline),
)


def performance_dashboard() -> dashboard.Dashboard:
    """LLM performance and reliability: alerts, clients' errors, attempts, latency (also by agent), SLOs,
    routing, headroom, loops, the pipeline."""
    board = base(
        PERFORMANCE_UID,
        "LLM performance and reliability",
        "How LiteLLM calls behave (otel-llm): what clients see, attempts by model, deployment and provider, "
        "latency and SLOs, routing, headroom, loops, the telemetry pipeline.",
        (SPEND_UID, "LLM spend and usage"),
    )
    for title, section in SECTIONS:
        board = board.with_row(dashboard.Row(title))
        for panel in section():
            board = board.with_panel(panel)
    return board
