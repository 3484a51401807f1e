"""The telemetry pipeline's section of the performance dashboard: the Collector, otel-llm's own
drops, errors and cardinality overflow, and which processes export (with which versions)."""

from __future__ import annotations

from panels import CALLS, DURATION, FAILED, REFUSED, SENT, SERVICE, Panel, grid, per_signal, query, rate, ts


def pipeline() -> list[Panel]:
    """Collector up, exporters sent/failed and queues, refusals, internal errors, dropped spans, values
    folded into _OTHER, budget polls, versions."""
    calls = f"{DURATION}_count{{{CALLS}}}"
    dropped = f"otel_llm_telemetry_dropped_total{{{SERVICE}}}"
    no_failures = f"{per_signal(SENT, 'exporter')} * 0"
    no_errors = f"{rate('service_name', calls)} * 0"
    internal = f"otel_llm_internal_errors_total{{{SERVICE}}}"
    overflow = f"otel_llm_metric_overflow_total{{{SERVICE}}}"
    polls = f"otel_llm_budget_polls_total{{{SERVICE}}}"
    return [
        ts(
            "Collector up",
            "1 when Prometheus can scrape the Collector's exporter and its own telemetry.",
            [query('up{job=~"otel-collector.*"}', "{{job}}")],
            "short",
            8,
        ),
        ts(
            "Exporter sent / failed",
            "Items per second each exporter sent, and gave up on (0 when none failed).",
            [
                query(per_signal(SENT, "exporter"), "sent {{exporter}} {{signal}}"),
                query(f"{per_signal(FAILED, 'exporter')} or {no_failures}", "failed {{exporter}} {{signal}}"),
            ],
            "short",
            8,
        ),
        ts(
            "Exporter queue used",
            "Sending queue size / capacity per exporter (alert over 80%).",
            [query("max by (exporter) (otelcol_exporter_queue_size / otelcol_exporter_queue_capacity)")],
            "percentunit",
            8,
        ),
        ts(
            "Refused and internal errors",
            "Items the Collector refused (memory limit), and otel-llm internal errors (0 when none).",
            [
                query(per_signal(REFUSED, "receiver"), "refused {{receiver}} {{signal}}"),
                query(f"{rate('service_name', internal, 'increase')} or {no_errors}", "otel-llm {{service_name}}"),
            ],
            "short",
        ),
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
        ),
        ts(
            "Values folded into _OTHER",
            "Points per second otel-llm's cardinality caps reported as _OTHER, by service, metric and attribute "
            "((series): the metric's series cap; 0 when none). Those keys, teams or agents lose their own series "
            "until values go idle (OTEL_LLM_METRIC_IDLE_TIMEOUT); alert OtelLLMMetricOverflow.",
            [
                query(
                    f"{rate('service_name, otel_llm_metric_name, otel_llm_metric_attribute', overflow)}"
                    f" or on (service_name) {no_errors}",
                    "{{service_name}} {{otel_llm_metric_name}} {{otel_llm_metric_attribute}}",
                )
            ],
            "short",
            24,
        ),
        ts(
            "Budget polls of LiteLLM's database",
            "Polls per minute of LiteLLM's database by the budget poller (OTEL_LLM_BUDGET_POLL), by outcome: ok, "
            "truncated (OTEL_LLM_BUDGET_MAX_ROWS reached), failed (by error.type) or standby (another worker "
            "holds the poller lock). Empty: no proxy polls a database. Failing for 20 min fires "
            "OtelLLMBudgetPollFailing: idle keys' budget gauges go stale.",
            [
                query(
                    f"{rate('service_name, otel_llm_budget_poll_outcome, error_type', polls)} * 60",
                    "{{service_name}} {{otel_llm_budget_poll_outcome}} {{error_type}}",
                )
            ],
            "short",
            24,
        ),
        grid(
            "Processes exporting, by version",
            "Processes (workers, replicas, SDK apps) whose otel-llm telemetry arrives now, by service and "
            "by otel-llm and LiteLLM version (otel_llm_build_info, sent at every export; a service "
            "missing here for 5 min fires OtelLLMTelemetryStopped).",
            [
                query(
                    "count by (service_name, otel_llm_version, otel_llm_litellm_version) "
                    f"(otel_llm_build_info{{{SERVICE}}})",
                    instant=True,
                )
            ],
            "short",
            24,
        ).decimals(0),
    ]
