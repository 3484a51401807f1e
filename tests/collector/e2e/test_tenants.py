"""End to end, tenants at scale: two agents on one key exact in Prometheus and on the dashboards, the
prompt-cache panel exact, one usage record per attempt in the Collector's file sink (no content) that
reconciles with the per-key counters, and a proxy with small caps whose keys churn: new keys get their
own series, the folded ones are counted, and OtelLLMMetricOverflow reaches Slack."""

from __future__ import annotations

import csv
import importlib.util
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from tests.collector.e2e.helpers import dashboard, links, panel_targets, runbook_page, slack_messages, substitute
from tests.collector.e2e.world import (
    BLOCKED_KEY,
    CHURN_KEYS,
    CHURN_SERVICE,
    CODER,
    IDLE_KEY,
    IDLE_TEAM,
    LOOP_PROMPT,
    MAIN_SERVICE,
    PLANNER,
    PROMPT,
    TAG_SECRET,
    Answered,
    Churn,
    Providers,
    Stack,
    Traffic,
)
from tests.collector.stack import REPO, wait_until
from tests.proxy.harness import ALPHA, BETA, MASTER_KEY, PROVIDER_KEY

pytestmark = pytest.mark.e2e

RECONCILE = REPO / "examples" / "reconcile.py"
AGENTS = f'gen_ai_agent_id=~"{PLANNER}|{CODER}"'
ALPHA_AGENTS = f'service_name="{MAIN_SERVICE}", otel_llm_key_alias="agent-alpha", {AGENTS}'


def _reconcile_module() -> Any:
    """examples/reconcile.py, whose reader the tests use to read the file sink as a user would."""
    spec = importlib.util.spec_from_file_location("reconcile", RECONCILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


reconcile = _reconcile_module()


def _by_agent(stack: Stack, expr: str) -> dict[str, float]:
    return {r["metric"]["gen_ai_agent_id"]: float(r["value"][1]) for r in stack.prometheus.query(expr)}


def _settled(read: Callable[[], dict[str, float]], expected: dict[str, float]) -> dict[str, float]:
    """``read()`` once it has reached ``expected``'s keys with values at least as large (scrapes lag)."""

    def reached() -> dict[str, float] | None:
        values = read()
        return values if all(values.get(k, 0) >= v * (1 - 1e-9) for k, v in expected.items()) else None

    return wait_until(reached, 30, f"Prometheus caught up with {expected}", interval=0.5) or read()


def test_two_agents_on_one_key_are_exact_in_prometheus(stack: Stack, traffic: Traffic) -> None:
    """planner (x-litellm-agent-id) and coder (metadata.agent_id) on agent-alpha's key: their calls, spend and
    tokens in Prometheus, through the real Collector, equal what the proxy answered each (LiteLLM's cost header,
    the usage it returned)."""
    agents = traffic.agents
    calls = _settled(
        lambda: _by_agent(stack, f"sum by (gen_ai_agent_id) (otel_llm_client_requests_total{{{ALPHA_AGENTS}}})"),
        {name: a.calls for name, a in agents.items()},
    )
    assert calls == {PLANNER: 2, CODER: 2}
    spend = _by_agent(stack, f"sum by (gen_ai_agent_id) (otel_llm_client_spend_USD_total{{{ALPHA_AGENTS}}})")
    assert spend == {name: pytest.approx(a.cost, rel=1e-9) for name, a in agents.items()}
    assert all(a.cost > 0 and a.cache_read > 0 for a in agents.values())
    for kind in ("input", "output", "cache_read"):
        selector = f'{ALPHA_AGENTS}, otel_llm_token_type="{kind}"'
        tokens = _by_agent(stack, f"sum by (gen_ai_agent_id) (otel_llm_client_tokens_total{{{selector}}})")
        assert tokens == {name: getattr(a, kind) for name, a in agents.items()}, kind
    # The dashboard's agents table says the same.
    spend_column, calls_column, *_ = panel_targets("Agents: spend, calls and tokens")
    for column, figure in ((spend_column, "cost"), (calls_column, "calls")):
        rows = {
            r["metric"]["gen_ai_agent_id"]: float(r["value"][1])
            for r in stack.prometheus.query(substitute(column, {"$key": "agent-alpha"}))
        }
        assert {k: rows[k] for k in agents} == {k: pytest.approx(getattr(a, figure)) for k, a in agents.items()}


def test_prompt_cache_panel_is_exact(stack: Stack, traffic: Traffic) -> None:
    """Cached prompt tokens from the fake provider (prompt_tokens_details.cached_tokens): the 'Prompt cache: hit
    ratio and USD saved' panel shows each agent's input and cached tokens, their ratio, and the USD saved at
    LiteLLM's prices (input price less cache-read price, per cached token)."""
    import litellm  # the price map the proxy uses (LITELLM_LOCAL_MODEL_COST_MAP)

    prices = litellm.model_cost["gpt-4o-mini"]
    saved_per_token = prices["input_cost_per_token"] - prices["cache_read_input_token_cost"]
    columns = panel_targets("Prompt cache: hit ratio and USD saved")

    def rows(column: str) -> dict[str, float]:
        result = stack.prometheus.query(substitute(column))
        return {
            r["metric"]["gen_ai_agent_id"]: float(r["value"][1])
            for r in result
            if r["metric"].get("otel_llm_model_group") == "gpt-main"
        }

    expected: dict[str, Answered] = traffic.agents
    _settled(lambda: rows(columns[0]), {name: a.input for name, a in expected.items()})
    inputs, reads, ratio, saved = (rows(column) for column in columns)
    for name, answered in expected.items():
        assert inputs[name] == answered.input and reads[name] == answered.cache_read, name
        assert ratio[name] == pytest.approx(answered.cache_read / answered.input), name
        assert saved[name] == pytest.approx(answered.cache_read * saved_per_token, rel=1e-9), name


def test_budget_state_of_keys_that_never_called_from_the_database(
    stack: Stack, traffic: Traffic, database: tuple[Any, datetime]
) -> None:
    """The main proxy's poller reads LiteLLM's database (real PostgreSQL): a key and a team that never sent
    a request are in Prometheus with their budget, spend, reset time and blocked state, so are the dashboards'
    budget tables (Resets in, Blocked), and the pipeline panel shows the polls succeeding."""
    reset = database[1].timestamp()

    def value(expr: str) -> float | None:
        result = stack.prometheus.query(expr)
        return float(result[0]["value"][1]) if result else None

    idle = f'service_name="{MAIN_SERVICE}", otel_llm_key_alias="{IDLE_KEY}"'
    wait_until(lambda: value(f"otel_llm_key_blocked{{{idle}}}") is not None, 60, "the idle key's gauges scraped")
    (budget,) = stack.prometheus.query(f"otel_llm_key_max_budget_USD{{{idle}}}")
    assert budget["metric"]["otel_llm_team_alias"] == IDLE_TEAM and float(budget["value"][1]) == 10.0
    assert value(f"otel_llm_key_spend_USD{{{idle}}}") == 1.0
    assert value(f"otel_llm_key_budget_utilization_ratio{{{idle}}}") == pytest.approx(0.1)
    assert value(f"otel_llm_key_budget_reset_time_seconds{{{idle}}}") == reset
    assert value(f"otel_llm_key_blocked{{{idle}}}") == 0
    retired = f'service_name="{MAIN_SERVICE}", otel_llm_key_alias="{BLOCKED_KEY}"'
    assert wait_until(lambda: value(f"otel_llm_key_blocked{{{retired}}}"), 30, "the blocked key scraped") == 1
    team = f'service_name="{MAIN_SERVICE}", otel_llm_team_alias="{IDLE_TEAM}"'
    assert value(f"otel_llm_team_budget_reset_time_seconds{{{team}}}") == reset
    assert value(f"otel_llm_team_max_budget_USD{{{team}}}") == 100.0

    # The budget tables as Grafana shows them, filtered on the idle key and team.
    *_, resets_in, blocked = panel_targets("Key spend and budget")
    key = {"$service": MAIN_SERVICE, "$key": f"{IDLE_KEY}|{BLOCKED_KEY}"}
    remaining = value(substitute(resets_in, {**key, "$key": IDLE_KEY}))
    assert remaining is not None and abs(remaining - (reset - time.time())) < 120
    rows = {
        r["metric"]["otel_llm_key_alias"]: float(r["value"][1])
        for r in stack.prometheus.query(substitute(blocked, key))
    }
    assert rows == {IDLE_KEY: 0.0, BLOCKED_KEY: 1.0}
    *_, team_resets_in, team_blocked = panel_targets("Team spend and budget")
    remaining = value(substitute(team_resets_in, {"$service": MAIN_SERVICE, "$team": IDLE_TEAM}))
    assert remaining is not None and abs(remaining - (reset - time.time())) < 120
    assert value(substitute(team_blocked, {"$service": MAIN_SERVICE, "$team": IDLE_TEAM})) == 0

    (polls,) = panel_targets("Budget polls of LiteLLM's database")
    outcomes = wait_until(
        lambda: (
            {
                r["metric"]["otel_llm_budget_poll_outcome"]: float(r["value"][1])
                for r in stack.prometheus.query(substitute(polls, {"$service": MAIN_SERVICE}))
            }
            or None
        ),
        30,
        "budget polls scraped",
    )
    assert set(outcomes) == {"ok"} and outcomes["ok"] > 0


def _records(stack: Stack, service: str) -> list[dict[str, Any]]:
    return [r for r in reconcile.read_records([stack.usage_dir]) if r["service.name"] == service]


def _all_records(stack: Stack, service: str, attempts: int) -> list[dict[str, Any]]:
    """The service's usage records in the file sink, once there are as many as the attempts served."""
    return wait_until(
        lambda: found if len(found := _records(stack, service)) >= attempts else None,
        30,
        f"{attempts} usage records of {service} in the Collector's file sink",
        interval=0.5,
    )


def test_one_usage_record_per_attempt_in_the_file_sink_without_content(
    stack: Stack, traffic: Traffic, providers: Providers
) -> None:
    """Every attempt the fake providers served (successes, the failures the fallback followed, the unpriced model)
    has exactly one usage record in the Collector's file sink, with its span; none carries prompt, completion,
    key or secret; the agents' records add up to what the proxy answered them."""
    attempts = providers.main_attempts()
    records = _all_records(stack, MAIN_SERVICE, attempts)
    assert len(records) == attempts
    assert len({(r["trace_id"], r["span_id"]) for r in records}) == attempts and all(r["span_id"] for r in records)
    failed = [r for r in records if r["otel_llm.usage.status"] == "error"]
    assert len(failed) == providers.broken.hits and {r["otel_llm.model_group"] for r in failed} == {"gpt-flaky"}
    raw = b"".join(path.read_bytes() for path in reconcile.files([stack.usage_dir]))
    texts = (PROMPT, "summarise ticket", LOOP_PROMPT, providers.fake.reply, "hello proxy", "churn call")
    for secret in (*texts, ALPHA, BETA, MASTER_KEY, PROVIDER_KEY, TAG_SECRET):
        assert secret.encode() not in raw, f"{secret[:12]}… in the usage records"
    for name, answered in traffic.agents.items():
        mine = [r for r in records if r.get("gen_ai.agent.id") == name]
        assert len(mine) == answered.calls
        assert sum(r["otel_llm.usage.cost"] for r in mine) == pytest.approx(answered.cost, rel=1e-9)
        assert sum(r["gen_ai.usage.cache_read.input_tokens"] for r in mine) == answered.cache_read


def _run_reconcile(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(RECONCILE), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=REPO)


def test_usage_records_reconcile_with_the_per_key_counters(
    stack: Stack, traffic: Traffic, providers: Providers
) -> None:
    """examples/reconcile.py: the records summed per key equal the per-key counters in Prometheus (calls, USD,
    input, output and cache-read tokens), and its daily breakdown gives each agent what the proxy answered it."""
    attempts = providers.main_attempts()
    _all_records(stack, MAIN_SERVICE, attempts)
    counted = f'sum(otel_llm_client_requests_total{{service_name="{MAIN_SERVICE}"}})'
    _settled(lambda: {"calls": sum(float(r["value"][1]) for r in stack.prometheus.query(counted))}, {"calls": attempts})
    result = _run_reconcile(str(stack.usage_dir), "--prometheus", stack.prometheus.url, "--service", MAIN_SERVICE)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.split() for line in result.stdout.splitlines()[1:]]
    assert len(lines) == 2 * 5 and all(line[-1] == "ok" for line in lines)  # agent-alpha and agent-beta
    daily = _run_reconcile(str(stack.usage_dir), "--service", MAIN_SERVICE, "--by", "day,team,key,agent", "--csv")
    assert daily.returncode == 0, daily.stderr
    rows = {(r["key"], r["agent"]): r for r in csv.DictReader(daily.stdout.splitlines())}
    for name, answered in traffic.agents.items():
        row = rows[("agent-alpha", name)]
        assert float(row["usd"]) == pytest.approx(answered.cost, abs=1e-6) and int(row["calls"]) == answered.calls


def test_churned_keys_get_their_own_series_and_overflow_reaches_slack(
    stack: Stack, churn: Churn, providers: Providers
) -> None:
    """With 3 values per attribute and a 2 s idle timeout: the 4th key is reported as _OTHER and counted in
    otel_llm.metric.overflow, a key after the first went idle gets its own series, OtelLLMMetricOverflow
    reaches the platform channel with its runbook and the service's dashboard, and the usage records still
    name the folded key (so reconciling them with the counters shows it)."""
    overflow = f'otel_llm_metric_overflow_total{{service_name="{CHURN_SERVICE}"}}'
    counted = {r["metric"]["otel_llm_metric_attribute"] for r in stack.prometheus.query(overflow)}
    assert {"otel_llm.key.alias", "otel_llm.key.hash"} <= counted
    keys = f'otel_llm_client_requests_total{{service_name="{CHURN_SERVICE}"}}'
    aliases = {r["metric"]["otel_llm_key_alias"] for r in stack.prometheus.query(keys)}
    assert {"churn-1", "churn-2", "churn-3", churn.late, "_OTHER"} <= aliases and churn.folded not in aliases

    def overflow_messages() -> list[dict[str, Any]]:
        return slack_messages(stack.slack.received(), "OtelLLMMetricOverflow", CHURN_SERVICE)

    (message, *_) = wait_until(overflow_messages, 30, "OtelLLMMetricOverflow posted to Slack", interval=0.2)
    assert message["body"]["channel"] == "#observability-platform"
    (attachment,) = message["body"]["attachments"]
    assert re.fullmatch(r"\[FIRING:\d+\] OtelLLMMetricOverflow", attachment["title"]), attachment["title"]
    assert "otel_llm.key.alias" in attachment["text"] and "_OTHER" in attachment["text"]
    found = links(attachment["text"])
    assert runbook_page(found["Runbook"]).name == "OtelLLMMetricOverflow.md"
    board, filters = dashboard(found["Dashboard"])
    assert board["uid"] == "otel-llm-performance" and filters == {"service": [CHURN_SERVICE]}
    records = _all_records(stack, CHURN_SERVICE, providers.churn.served.requests)
    assert churn.folded in {r["otel_llm.key.alias"] for r in records}
    exported = b"".join(stack.tempo.raw) + b"".join(p.read_bytes() for p in reconcile.files([stack.usage_dir]))
    assert not [key for key in CHURN_KEYS if key.encode() in exported]  # hashes and aliases only
    result = _run_reconcile(str(stack.usage_dir), "--prometheus", stack.prometheus.url, "--service", CHURN_SERVICE)
    assert result.returncode == 1 and not result.stderr, result.stderr
    mismatched = {line.split()[0] for line in result.stdout.splitlines() if line.endswith("MISMATCH")}
    folded_hash = next(r["otel_llm.key.hash"] for r in records if r["otel_llm.key.alias"] == churn.folded)
    assert {"_OTHER", folded_hash} <= mismatched  # counted under _OTHER, named in its records
