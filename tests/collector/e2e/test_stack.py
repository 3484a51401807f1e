"""End to end: the real LiteLLM proxy → the ocb-built Collector → Prometheus → Alertmanager → Slack,
and the Collector → Tempo (a local OTLP receiver), all on 127.0.0.1, started once for this package
(conftest.py): traces, secrets, every panel and runbook query, the alerts' messages and links."""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.collector.e2e.helpers import (
    dashboard,
    has_values,
    links,
    panel_queries,
    runbook_page,
    slack_messages,
    substitute,
)
from tests.collector.e2e.world import (
    ALPHA_CALLS,
    CLIENT_SPAN,
    CLIENT_TRACE,
    CODER,
    GUARDRAIL,
    MAIN_SERVICE,
    PLANNER,
    RESOURCE_SECRET,
    RUNAWAY,
    TAG_SECRET,
    Churn,
    Stack,
    Traffic,
)
from tests.collector.series import COLLECTOR_SERIES, NOT_IN_PROXY_TRAFFIC, RUNBOOKS, all_series, runbook_queries
from tests.collector.stack import COLLECTOR, DEADMANS_SWITCH_PATH, REPO, wait_for_nothing_missing, wait_until
from tests.proxy.harness import ALPHA, BETA, MASTER_KEY, PROVIDER_KEY

pytestmark = pytest.mark.e2e

SERVER, INTERNAL, CLIENT = 2, 1, 3  # OTLP span kinds
CONTENT_KEYS = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"}


def _trace(stack: Stack, trace_id: str) -> list[dict[str, Any]]:
    def complete() -> list[dict[str, Any]] | None:
        spans = [s for s in stack.tempo.spans() if s["trace_id"] == trace_id]
        attempts = [s for s in spans if s["kind"] == CLIENT and s["scope"] == "otel_llm"]
        return spans if len(attempts) >= 3 and any(s["kind"] == SERVER for s in spans) else None

    return wait_until(complete, 30, f"trace {trace_id} with its request and 3 attempt spans in Tempo")


def test_traces_reach_tempo_through_the_collector_with_hierarchy(stack: Stack, traffic: Traffic) -> None:
    """The client's trace arrives whole: request span (with the Router's counts) → 3 attempts → each HTTP call."""
    spans = _trace(stack, CLIENT_TRACE)
    (server,) = [s for s in spans if s["kind"] == SERVER and s["parent_span_id"] == CLIENT_SPAN]
    attempts = [s for s in spans if s["kind"] == CLIENT and s["scope"] == "otel_llm"]
    assert not [s for s in spans if s["kind"] == INTERNAL]  # the Router request is folded into the SERVER span
    assert server["attributes"]["otel_llm.model_group"] == "gpt-flaky"
    assert server["attributes"]["otel_llm.router.fallbacks"] == 1
    assert {a["parent_span_id"] for a in attempts} == {server["span_id"]}
    groups = sorted(a["attributes"]["otel_llm.model_group"] for a in attempts)
    assert groups == ["gpt-backup", "gpt-flaky", "gpt-flaky"]
    http = [s for s in spans if s["kind"] == CLIENT and s["scope"] != "otel_llm"]
    assert {h["parent_span_id"] for h in http} == {a["span_id"] for a in attempts}
    assert {s["resource"]["service.name"] for s in spans} == {"litellm-proxy"}


def test_secrets_and_content_never_reach_tempo(stack: Stack, traffic: Traffic) -> None:
    """No key, credential or prompt reaches Tempo: the Collector masks secret-shaped values and drops content."""
    _trace(stack, CLIENT_TRACE)
    raw = b"".join(stack.tempo.raw)
    for secret in (ALPHA, BETA, MASTER_KEY, PROVIDER_KEY, TAG_SECRET, RESOURCE_SECRET, "sk-user-9a8b7c6d5e4f3a2b1c0d"):
        assert secret.encode() not in raw, f"{secret[:8]}… reached Tempo"
    assert b"summarise ticket 4711" not in raw
    spans = stack.tempo.spans()
    assert not [s["name"] for s in spans if CONTENT_KEYS & set(s["attributes"])]
    # The main proxy's (the churn proxy, running beside it, sets no secret-shaped resource attribute).
    resource = next(s["resource"] for s in spans if s["resource"]["service.name"] == MAIN_SERVICE)
    assert resource["otel_llm.test.authorization"] == "****"
    assert resource["redaction.masked.count"] >= 1
    trace = _trace(stack, CLIENT_TRACE)
    (fallback,) = [s for s in trace if s["attributes"].get("otel_llm.model_group") == "gpt-backup"]
    assert "ticket:****" in json.dumps(fallback["attributes"]["otel_llm.request.tags"])


def test_every_dashboard_panel_query_returns_data(stack: Stack, traffic: Traffic, churn: Churn) -> None:
    """Each query of each panel of every dashboard returns at least one real value from Prometheus
    (values folded into _OTHER from the churn proxy)."""
    queries = panel_queries()
    assert len(queries) >= 30

    def empty() -> list[str]:
        return [f"{d} / {p}: {e}" for d, p, e in queries if not has_values(stack.prometheus.query(substitute(e)))]

    missing = wait_for_nothing_missing(empty, 60)
    assert not missing, "panels without data:\n" + "\n".join(missing)
    (spend,) = [e for _, p, e in queries if p.startswith("Spend in range")]
    assert float(stack.prometheus.query(substitute(spend))[0]["value"][1]) > 0


def test_every_runbook_query_runs_on_the_real_prometheus(stack: Stack, traffic: Traffic) -> None:
    """The first queries of every runbook page are valid PromQL for Prometheus as it runs here; those
    about a key, team or model return data once its placeholder is the traffic's key, team or model."""
    examples = {
        '"<key hash from the alert>"': '"' + _alpha_hash(stack) + '"',
        '"<team id from the alert>"': '"team-a"',
        '"<model group from the alert>"': '"gpt-main"',
        '"<service from the alert>"': '"litellm-proxy"',
        '"<agent from the alert>"': f'"{PLANNER}"',
        '"<server from the alert>"': '"calc"',
        '"<guardrail from the alert>"': f'"{GUARDRAIL}"',
    }

    def example(query: str) -> str:
        for placeholder, value in examples.items():
            query = query.replace(placeholder, value)
        return query

    queries = [(page.name, q) for page in sorted(RUNBOOKS.glob("*.md")) for q in runbook_queries(page.read_text())]
    assert len(queries) >= 3 * 35
    for _, query in queries:
        stack.prometheus.query(example(query))  # fails on a PromQL error
    budget = next(q for p, q in queries if p == "LLMKeyBudgetHigh.md" and "max_budget" in q)
    left = stack.prometheus.query(example(budget))
    assert float(left[0]["value"][1]) == pytest.approx(10.0 - 8.5)  # max_budget - spend of agent-alpha


def _alpha_hash(stack: Stack) -> str:
    spend = 'otel_llm_key_spend_USD{otel_llm_key_alias="agent-alpha"}'
    (hash_,) = stack.prometheus.label_values("otel_llm_key_hash", spend)
    return hash_


def test_dashboard_variables_list_the_traffic(stack: Stack, traffic: Traffic) -> None:
    """The key, team, model, provider and service variables offer the values the traffic produced."""
    dashboard = json.loads((COLLECTOR / "grafana" / "dashboards" / "llm-spend-and-usage.json").read_text())
    variables = {v["name"]: v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"}
    expected = {
        "service": {"litellm-proxy"},
        "team": {"Team A", "Team B"},
        "key": {"agent-alpha", "agent-beta"},
        "agent": {PLANNER, CODER, RUNAWAY},
        "model": {"gpt-main", "gpt-flaky", "gpt-backup"},
        "provider": {"openai"},
    }
    assert set(variables) == set(expected)
    for name, q in variables.items():
        metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", q).groups()  # type: ignore[union-attr]
        assert expected[name] <= set(stack.prometheus.label_values(label, metric)), name


def test_budget_alert_reaches_slack(stack: Stack, traffic: Traffic) -> None:
    """agent-alpha at 85% of its budget: a LLMKeyBudgetHigh message naming key and team reaches Slack in time."""

    def budget_messages() -> list[dict[str, Any]]:
        return [m for m in stack.slack.received() if "LLMKeyBudgetHigh" in json.dumps(m["body"])]

    (message, *_) = wait_until(budget_messages, 30, "LLMKeyBudgetHigh posted to the Slack stand-in", interval=0.2)
    elapsed = message["at"] - traffic.started
    assert elapsed < 30, f"the budget alert reached Slack {elapsed:.0f}s after the first call"
    body = message["body"]
    assert message["path"] == stack.slack.webhook_path
    assert body["channel"] == "#llm-alerts"
    (attachment,) = body["attachments"]
    assert attachment["title"] == "[FIRING:1] LLMKeyBudgetHigh · team Team A · key agent-alpha"
    assert "*Key agent-alpha (team Team A) has used 85% of its budget*" in attachment["text"]
    assert attachment["color"] == "warning"
    found = links(attachment["text"])
    assert set(found) == {"Runbook", "Dashboard", "Query", "Silence"}
    assert runbook_page(found["Runbook"]) == REPO / "docs" / "runbooks" / "LLMKeyBudgetHigh.md"
    board, filters = dashboard(found["Dashboard"])
    assert board["title"] == "LLM spend and usage"
    assert filters == {"key": ["agent-alpha"], "team": ["Team A"]}
    assert found["Query"].startswith(f"{stack.prometheus.url}/graph?g0.expr=")
    assert found["Silence"].startswith(f"{stack.alertmanager.url}/#/silences/new?filter=")
    assert not [m for m in budget_messages() if "agent-beta" in json.dumps(m["body"])]  # beta is at 1%


def test_runaway_loop_alert_reaches_slack(stack: Stack, traffic: Traffic) -> None:
    """agent-beta repeating one prompt: the detector's counter fires LLMRunawayLoopDetected, naming key and team."""

    def loop_messages() -> list[dict[str, Any]]:
        # agent-beta's (the demo, run later in this package, loops too: key runaway-agent).
        return slack_messages(stack.slack.received(), "LLMRunawayLoopDetected", "agent-beta")

    (message, *_) = wait_until(loop_messages, 30, "LLMRunawayLoopDetected posted to the Slack stand-in", interval=0.2)
    text = json.dumps(message["body"])
    assert "agent-beta" in text and "Team B" in text and "repeat" in text
    assert f"agent {RUNAWAY}" in message["body"]["attachments"][0]["title"]  # the agent, named
    assert "agent-alpha" not in text
    found = links(message["body"]["attachments"][0]["text"])
    assert runbook_page(found["Runbook"]).name == "LLMRunawayLoopDetected.md"
    board, filters = dashboard(found["Dashboard"])
    assert board["uid"] == "otel-llm-performance"
    assert filters == {"key": ["agent-beta"], "team": ["Team B"], "agent": [RUNAWAY], "model": ["gpt-main"]}


def test_watchdog_reaches_the_deadmans_switch_and_not_slack(stack: Stack, traffic: Traffic) -> None:
    """The always-firing Watchdog goes from Prometheus through Alertmanager to the dead man's switch
    (wired as collector/README.md says), and never to a Slack channel."""

    def pings() -> list[dict[str, Any]]:
        return [m for m in stack.slack.received() if m["path"] == DEADMANS_SWITCH_PATH]

    (ping, *_) = wait_until(pings, 30, "the Watchdog posted to the dead man's switch", interval=0.2)
    assert ping["body"]["receiver"] == "deadmans-switch" and ping["body"]["status"] == "firing"
    assert [a["labels"]["alertname"] for a in ping["body"]["alerts"]] == ["Watchdog"]
    assert all(m["path"] == DEADMANS_SWITCH_PATH for m in stack.slack.received() if "Watchdog" in json.dumps(m))


def _post_alerts(stack: Stack, *labels: dict[str, str]) -> None:
    ends = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=2)).isoformat()
    body = json.dumps([{"labels": label, "endsAt": ends} for label in labels]).encode()
    request = urllib.request.Request(
        f"{stack.alertmanager.url}/api/v2/alerts", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def _alert_state(stack: Stack, alertname: str, service: str) -> dict[str, Any] | None:
    url = f"{stack.alertmanager.url}/api/v2/alerts?filter=alertname%3D%22{alertname}%22"
    with urllib.request.urlopen(url, timeout=10) as response:
        alerts = json.loads(response.read())
    return next((a["status"] for a in alerts if a["labels"].get("service_name") == service), None)


def test_a_collector_down_inhibits_silent_service_alerts(stack: Stack) -> None:
    """In the real Alertmanager, OtelLLMTelemetryStopped is active alone, and inhibited while
    OtelCollectorDown fires (which already says why no telemetry arrives)."""
    stopped = {"alertname": "OtelLLMTelemetryStopped", "severity": "critical", "service_name": "inhibit-e2e"}
    _post_alerts(stack, stopped)
    state = wait_until(lambda: _alert_state(stack, stopped["alertname"], "inhibit-e2e"), 10, "alert received")
    assert state["state"] == "active" and not state["inhibitedBy"]
    down = {"alertname": "OtelCollectorDown", "severity": "critical", "job": "otel-collector", "instance": "c:8889"}
    _post_alerts(stack, down, stopped)

    def inhibited() -> list[str] | None:
        state = _alert_state(stack, stopped["alertname"], "inhibit-e2e")
        return state["inhibitedBy"] if state and state["state"] == "suppressed" else None

    assert wait_until(inhibited, 10, "OtelLLMTelemetryStopped inhibited by OtelCollectorDown")


def test_series_names_as_the_rules_expect(stack: Stack, traffic: Traffic, churn: Churn) -> None:
    """The Collector's prometheus exporter names otel-llm's metrics exactly as the rules and dashboards use them."""
    expected = (all_series() - COLLECTOR_SERIES - NOT_IN_PROXY_TRAFFIC) | {
        "otelcol_exporter_sent_spans",
        "otelcol_exporter_queue_size",
        "otelcol_exporter_queue_capacity",
        "otelcol_receiver_accepted_spans",
        "otelcol_receiver_accepted_metric_points",
        "otelcol_receiver_refused_spans",
        "up",
    }
    missing = wait_for_nothing_missing(lambda: sorted(expected - stack.prometheus.series_names()), 30)
    assert not missing, f"series not in Prometheus: {missing}"
    (gauge,) = stack.prometheus.query('otel_llm_key_budget_utilization_ratio{otel_llm_key_alias="agent-alpha"}')
    assert gauge["metric"]["otel_llm_team_alias"] == "Team A" and gauge["metric"]["service_name"] == "litellm-proxy"
    assert "service_instance_id" not in gauge["metric"]  # one series per key, whatever the workers
    (calls, *_) = stack.prometheus.query(ALPHA_CALLS)
    assert calls["metric"]["service_instance_id"] == calls["metric"]["instance"]


def test_litellm_dashboard_queries_return_data(stack: Stack, traffic: Traffic) -> None:
    """LiteLLM's own cookbook dashboards' queries work on the litellm_* series derived from otel-llm's."""
    queries = json.loads((Path(__file__).parents[1] / "litellm_dashboard_queries.json").read_text())["queries"]
    missing = wait_for_nothing_missing(lambda: [q for q in queries if not has_values(stack.prometheus.query(q))], 30)
    assert not missing, "LiteLLM dashboard queries without data:\n" + "\n".join(missing)


def test_collector_log_has_no_deprecation_or_error(stack: Stack, traffic: Traffic) -> None:
    """The Collector ran the pipeline without deprecated component names or errors."""
    _trace(stack, CLIENT_TRACE)
    log = stack.collector.log()
    assert "Everything is ready" in log
    assert not [line for line in log.splitlines() if "deprecated" in line or "\terror\t" in line], log[-3000:]


def test_latency_exemplars_link_to_proxy_traces(stack: Stack, traffic: Traffic) -> None:
    """otel-llm records its histograms in the call's span context: Prometheus keeps exemplars whose
    trace ids are traces that reached Tempo (Grafana's exemplar -> trace link)."""

    def linked() -> list[str]:
        series = stack.prometheus.api(
            "query_exemplars", query="gen_ai_client_operation_duration_seconds_bucket", start=time.time() - 600
        )
        traced = {s["trace_id"] for s in stack.tempo.spans()}
        return [
            e["labels"]["trace_id"] for s in series for e in s["exemplars"] if e["labels"].get("trace_id") in traced
        ]

    assert wait_until(linked, 30, "an exemplar of a proxy call linked to its trace in Tempo")


# Panels the demo (compose's `demo` profile) must fill: its agents' spend, budgets, loops, routing.
DEMO_PANELS = {
    "Spend by key",
    "Key budget used",
    "Team budget used",
    "Key spend and budget",
    "Top spenders",
    "Requests per second",
    "Failed attempts",
    "Latency p50 / p95 / p99",
    "Time to first token p50 / p95 / p99",
    "Fallbacks",
    "Loop detections",
    "Spend by agent",
    "p95 latency by agent",
}


def test_the_demo_fills_the_dashboards(stack: Stack, tmp_path: Path) -> None:
    """`otel-llm demo --otlp <the Collector>` (what compose's demo profile runs, no provider key): its
    agents' spend, budgets, loop, fallbacks and latency, also per agent, fill the dashboards' panels for
    its service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    command = [str(Path(sys.executable).parent / "otel-llm"), "demo", "--otlp", stack.collector.otlp_http]
    result = subprocess.run(
        [*command, "--duration", "4", "--rate", "20", "--seed", "3"],
        # Exports every second: several points per series while the traffic runs (rates, quantiles).
        env={**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OTEL_METRIC_EXPORT_INTERVAL": "1000"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    queries = [(p, e) for _, p, e in panel_queries() if p.split(" [")[0] in DEMO_PANELS]
    assert {p.split(" [")[0] for p, _ in queries} == DEMO_PANELS

    def empty() -> list[str]:
        demo = {"$service": "otel-llm-demo"}
        return [f"{p}: {e}" for p, e in queries if not has_values(stack.prometheus.query(substitute(e, demo)))]

    missing = wait_for_nothing_missing(empty, 60)
    assert not missing, "panels the demo left empty:\n" + "\n".join(missing)
    spend = 'otel_llm_client_spend_USD_total{service_name="otel-llm-demo"}'
    agents = set(stack.prometheus.label_values("gen_ai_agent_id", spend))
    assert {"support-bot", "runaway-agent"} <= agents  # each agent by name, not one (none)
