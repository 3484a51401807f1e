"""collector/grafana/: dashboards generated as code (and committed up to date), their variables,
panels and queries; Grafana provisioning with exemplar → trace links."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_llm import _names as n
from tests.collector.series import all_series, key_labels_on_histograms, metric_names, name_patterns, recorded_names
from tests.collector.stack import COLLECTOR

GRAFANA = COLLECTOR / "grafana"
GENERATOR = GRAFANA / "generate.py"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# otel_llm.telemetry.dropped through the Collector: a counter gets `_total`, its `{span}` unit no suffix.
DROPPED = n.TELEMETRY_DROPPED_METRIC.replace(".", "_") + "_total"


def _generate(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(GENERATOR), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _dashboard(title: str) -> dict[str, Any]:
    (dashboard,) = [d for d in (json.loads(p.read_text()) for p in DASHBOARDS) if d["title"] == title]
    return dashboard


def _durations(expr: str) -> str:
    """``expr`` with Grafana's interval variables ($__range in ``offset $__range``) as durations."""
    return re.sub(r"\$__\w+", "1h", expr)


def _panel(dashboard: str, title: str) -> dict[str, Any]:
    (panel,) = [p for p in _dashboard(dashboard)["panels"] if p["title"] == title]
    return panel


def _all_panels() -> list[dict[str, Any]]:
    return [p for path in DASHBOARDS for p in json.loads(path.read_text())["panels"]]


def test_sdk_is_the_pinned_version() -> None:
    """The Grafana Foundation SDK is 0.0.21 (an unpinned install can pick a build for Grafana 10)."""
    assert importlib.metadata.version("grafana-foundation-sdk").removeprefix("v") == "0.0.21"


def test_committed_json_is_what_the_generator_makes(tmp_path: Path) -> None:
    """Regenerating gives the committed files byte for byte (CI fails when someone forgot to regenerate)."""
    result = _generate("--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    generated = sorted(p.name for p in tmp_path.glob("*.json"))
    assert generated == [p.name for p in DASHBOARDS]
    for path in DASHBOARDS:
        assert (tmp_path / path.name).read_text() == path.read_text(), f"{path.name} is out of date"
    check = _generate("--check")
    assert check.returncode == 0, check.stderr


def test_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    """--check exits 1 and names the file when the JSON differs from the generator's output."""
    for path in DASHBOARDS:
        shutil.copy(path, tmp_path / path.name)
    stale = tmp_path / DASHBOARDS[0].name
    stale.write_text(stale.read_text().replace('"refresh": "30s"', '"refresh": "5s"'))
    result = _generate("--check", "--out", str(tmp_path))
    assert result.returncode == 1 and DASHBOARDS[0].name in result.stderr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_template_variables(path: Path) -> None:
    """Each dashboard filters by service, team, key, agent, model and provider (multi-select, All = .*),
    offering the values of the per-key requests counter (the one series that carries them all)."""
    variables = {v["name"]: v for v in json.loads(path.read_text())["templating"]["list"]}
    assert set(variables) == {"datasource", "service", "team", "key", "agent", "model", "provider"}
    for name in ("service", "team", "key", "agent", "model", "provider"):
        assert variables[name]["type"] == "query" and variables[name]["multi"] and variables[name]["includeAll"]
        assert variables[name]["allValue"] == ".*"
        assert re.fullmatch(r"label_values\(otel_llm_client_requests_total, \w+\)", variables[name]["query"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_have_titles_descriptions_and_queries_on_known_series(path: Path) -> None:
    """Every panel is described and queries the chosen Prometheus, using only series the pipeline produces."""
    dashboard = json.loads(path.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    titles = [p["title"] for p in panels]
    assert len(titles) == len(set(titles))
    ids = [p["id"] for p in dashboard["panels"]]
    assert ids == list(range(1, len(ids) + 1))
    known = all_series() | recorded_names()
    for panel in panels:
        assert panel["description"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = metric_names(_durations(target["expr"]))
            patterns = name_patterns(target["expr"])
            assert names or patterns, target["expr"]
            assert names <= known, (panel["title"], names - known)
            assert all(any(re.fullmatch(p, n) for n in known) for p in patterns), patterns


def test_spend_and_usage_dashboard() -> None:
    """Spend by key/team/model/provider, prompt vs completion tokens, budget utilization, top spenders."""
    titles = {p["title"] for p in _dashboard("LLM spend and usage")["panels"]}
    assert titles >= {
        "Spend by key",
        "Spend by team",
        "Spend by model",
        "Spend by provider",
        "Prompt vs completion tokens",
        "Key budget used",
        "Team budget used",
        "Top spenders",
    }


def test_performance_and_reliability_dashboard() -> None:
    """What clients see next to failed attempts, errors, latency and TTFT (p50/p95/p99) by model,
    deployment and provider, SLOs, retries/fallbacks, headroom, loops and loop refusals, alerts, pipeline."""
    dashboard = _dashboard("LLM performance and reliability")
    titles = {p["title"] for p in dashboard["panels"]}
    assert titles >= {
        "Alerts firing",
        "Requests answered with an error (clients)",
        "Failed attempts",
        "Requests per second",
        "Refused by the proxy",
        "Loop guard refusals",
        "p95 latency by deployment",
        "Failed attempts by deployment",
        "Latency p50 / p95 / p99",
        "Time to first token p50 / p95 / p99",
        "Availability SLO: requests without a server error",
        "Latency SLO: calls within 10.24 s",
        "TTFT SLO: streams within 2.5 s",
        "Retries",
        "Fallbacks",
        "Key rpm limit used",
        "Team rpm limit used",
        "Provider requests left",
        "Loop detections",
        "Collector up",
        "Exporter sent / failed",
    }
    (latency,) = [p for p in dashboard["panels"] if p["title"] == "Latency p50 / p95 / p99"]
    assert [t["legendFormat"] for t in latency["targets"]] == ["p50", "p95", "p99"]
    assert all(t["exemplar"] for t in latency["targets"])
    # Like latency, time to first token counts successful streams only.
    (ttft,) = [p for p in dashboard["panels"] if p["title"] == "Time to first token p50 / p95 / p99"]
    assert all('error_type=""' in t["expr"] for t in ttft["targets"])
    (deployments,) = [p for p in dashboard["panels"] if p["title"] == "p95 latency by deployment"]
    assert "otel_llm_deployment_id, gen_ai_provider_name" in deployments["targets"][0]["expr"]


def test_the_two_dashboards_link_to_each_other() -> None:
    """Each dashboard links the other by UID, keeping the time range and the filters."""
    spend, performance = _dashboard("LLM spend and usage"), _dashboard("LLM performance and reliability")
    for board, other in ((spend, performance), (performance, spend)):
        (link,) = board["links"]
        assert link["url"] == f"/d/{other['uid']}" and link["keepTime"] and link["includeVars"]


def test_keys_without_an_alias_get_a_series_of_their_own() -> None:
    """Every query grouped by key alias first names alias-less keys by their hash (no blank merged series)."""
    for panel in _all_panels():
        for target in panel.get("targets", []):
            expr = target["expr"]
            if re.search(r"by \([^)]*otel_llm_key_alias", expr) and "ALERTS" not in expr:
                assert "label_join(" in expr and '"otel_llm_key_hash"' in expr, (panel["title"], expr)


def test_spend_rates_are_labelled_per_hour() -> None:
    """A panel charting USD per hour says so in its unit; sums of USD are USD."""
    for panel in _all_panels():
        exprs = [t["expr"] for t in panel.get("targets", [])]
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if any(e.endswith(" * 3600") for e in exprs):
            assert unit == "suffix: USD/h", panel["title"]
        elif unit == "currencyUSD":
            assert not any("rate(" in e and "increase(" not in e and "[1d]" not in e for e in exprs), panel["title"]


def test_grafana_provisioning_links_exemplars_to_tempo() -> None:
    """Prometheus and Tempo datasources; an exemplar's trace_id opens the trace in Tempo; dashboards load."""
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "datasources.yml").read_text())
    by_uid = {d["uid"]: d for d in datasources["datasources"]}
    assert by_uid["prometheus"]["type"] == "prometheus" and by_uid["tempo"]["type"] == "tempo"
    (link,) = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert link["name"] == "trace_id" and link["datasourceUid"] == "tempo"
    assert by_uid["tempo"]["jsonData"]["tracesToMetrics"]["datasourceUid"] == "prometheus"
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_bar_gauges_show_one_bar_per_key_or_team() -> None:
    """Budget and rpm/tpm bar gauges: every row of the instant table is a bar (named by its labels), highest first."""
    gauges = {p["title"]: p for p in _all_panels() if p["type"] == "bargauge"}
    assert set(gauges) == {
        "Key budget used",
        "Team budget used",
        "Key rpm limit used",
        "Key tpm limit used",
        "Team rpm limit used",
        "Team tpm limit used",
    }
    for title, panel in gauges.items():
        reduce = panel["options"]["reduceOptions"]
        assert reduce["values"] is True, title  # False reduces the whole column to one bar
        assert 10 <= reduce["limit"] <= 100, title
        (target,) = panel["targets"]
        assert target["instant"] and target["format"] == "table", title
        assert re.match(r"max by \((otel_llm_key_alias|otel_llm_team_alias)[,)]", target["expr"]), title
        assert {"id": "sortBy", "options": {"sort": [{"field": "Value", "desc": True}]}} in panel["transformations"]


def test_key_spend_and_budget_side_by_side() -> None:
    """Spend, max_budget, USD left and days left at the last day's pace, when the budget resets and whether
    LiteLLM blocks the key (from its database): one row per key, readable columns."""
    panel = _panel("LLM spend and usage", "Key spend and budget")
    assert [t["refId"] for t in panel["targets"]] == ["A", "B", "C", "D", "E", "F"]
    spend, budget, left, days, resets, blocked = (t["expr"] for t in panel["targets"])
    assert "otel_llm_key_spend_USD" in spend and "otel_llm_key_max_budget_USD" in budget
    assert left == f"{budget} - {spend}"
    assert days.startswith(f"({budget} - {spend}) / (") and "[1d]" in days and days.endswith(" * 86400 > 0)")
    assert resets == budget.replace("otel_llm_key_max_budget_USD", "otel_llm_key_budget_reset_time_seconds") + (
        " - time()"
    )
    assert blocked == budget.replace("otel_llm_key_max_budget_USD", "otel_llm_key_blocked")
    assert all(t["instant"] and t["format"] == "table" for t in panel["targets"])
    ids = [t["id"] for t in panel["transformations"]]
    assert ids[0] in ("merge", "joinByField") and "organize" in ids
    (organize,) = [t["options"] for t in panel["transformations"] if t["id"] == "organize"]
    assert organize["excludeByName"] == {"Time": True}
    assert organize["renameByName"] == {
        "otel_llm_key_alias": "Key",
        "otel_llm_team_alias": "Team",
        "Value #A": "Spend",
        "Value #B": "Max budget",
        "Value #C": "USD left",
        "Value #D": "Days left",
        "Value #E": "Resets in",
        "Value #F": "Blocked",
    }
    units = {o["matcher"]["options"]: o["properties"] for o in panel["fieldConfig"]["overrides"]}
    assert units == {  # days, seconds and yes/no, not dollars
        "Days left": [{"id": "unit", "value": "d"}],
        "Resets in": [{"id": "unit", "value": "s"}],
        "Blocked": [{"id": "unit", "value": "bool_yes_no"}],
    }
    team = _panel("LLM spend and usage", "Team spend and budget")
    assert [t["refId"] for t in team["targets"]] == ["A", "B", "C", "D", "E", "F"]
    assert "otel_llm_team_blocked" in team["targets"][5]["expr"]


def test_loop_detections_count_the_time_range() -> None:
    """Detections within the range (increase, plus series born in it in full), not totals since workers started."""
    panel = _panel("LLM performance and reliability", "Loop detections")
    (target,) = panel["targets"]
    expr = target["expr"]
    assert target["instant"] and target["format"] == "table"
    by = (
        "otel_llm_key_alias, otel_llm_team_alias, gen_ai_agent_id, otel_llm_model_group, otel_llm_loop_reason, "
        "otel_llm_loop_action"
    )
    assert expr.startswith(f"sum by ({by}) (")
    assert re.search(r"increase\(otel_llm_loop_detections_total\{[^}]*\}\[\$__range\]\)", expr)
    assert not re.search(r"last_over_time\([^()]*\[\$__range\]\)", expr)  # lifetime totals
    # a worker's series born in the range (at its first detection's value) counts in full
    assert re.search(r" unless last_over_time\(otel_llm_loop_detections_total\{[^}]*\}\[1d\] offset \$__range\)", expr)
    assert expr.endswith(" > 0")  # keys without detections are not listed
    assert "since each worker started" not in panel["description"]


def test_dropped_spans_panel_next_to_internal_errors() -> None:
    """The pipeline row charts otel-llm's dropped spans per second by reason (0 when none)."""
    dashboard = _dashboard("LLM performance and reliability")
    panels = dashboard["panels"]
    titles = [p["title"] for p in panels]
    dropped = _panel(dashboard["title"], "Spans dropped by otel-llm")
    assert (
        titles.index("Telemetry pipeline")
        < titles.index("Refused and internal errors")
        < titles.index(dropped["title"])
    )
    (target,) = dropped["targets"]
    assert DROPPED in all_series()
    assert metric_names(_durations(target["expr"])) == {DROPPED, "gen_ai_client_operation_duration_seconds_count"}
    assert target["expr"].startswith(f"sum by (service_name, otel_llm_drop_reason) (rate({DROPPED}{{")
    assert " or on (service_name) " in target["expr"] and target["expr"].endswith(" * 0")  # 0 when none dropped
    assert "{{otel_llm_drop_reason}}" in target["legendFormat"]
    row = [p for p in panels if p["gridPos"]["y"] == dropped["gridPos"]["y"]]
    assert sum(p["gridPos"]["w"] for p in row) == 24


def test_no_panel_reads_a_key_from_a_histogram() -> None:
    """Histograms carry no key: every panel that breaks down or filters by key reads the per-key counters."""
    exprs = [(p["title"], t["expr"]) for p in _all_panels() for t in p.get("targets", [])]
    assert not [(title, found) for title, expr in exprs if (found := key_labels_on_histograms(expr))]
    for panel in ("Spend by key", "Calls by key", "Top spenders", "Spend in range"):
        (target, *_) = _panel("LLM spend and usage", panel)["targets"]
        assert re.search(r"otel_llm_client_(spend_USD|requests)_total\{", target["expr"]), panel


def test_agents_have_their_spend_tokens_latency_errors_and_loops() -> None:
    """Per-agent spend, tokens (spend dashboard), latency, errors and loops (performance dashboard); calls that
    name no agent are shown as (none), not as one blank series."""
    spend = {p["title"]: p for p in _dashboard("LLM spend and usage")["panels"]}
    performance = {p["title"]: p for p in _dashboard("LLM performance and reliability")["panels"]}
    for panels, title in (
        (spend, "Spend by agent"),
        (spend, "Tokens by agent"),
        (spend, "Agents: spend, calls and tokens"),
        (performance, "p95 latency by agent"),
        (performance, "Failed attempts by agent"),
        (performance, "Loop detections"),
        (performance, "Loop guard refusals"),
    ):
        for target in panels[title]["targets"]:
            assert "gen_ai_agent_id" in target["expr"] and '"(none)"' in target["expr"], title


def test_counted_in_range_exactly() -> None:
    """Totals over the time range count series born in it in full (increase() misses a counter's first
    value): spend in range, top spenders, the agents' and the prompt cache's tables."""
    for title in (
        "Spend in range",
        "Top spenders",
        "Agents: spend, calls and tokens",
        "Prompt cache: hit ratio and USD saved",
    ):
        for target in _panel("LLM spend and usage", title)["targets"]:
            assert "unless last_over_time(" in target["expr"] and "[10m] offset $__range)" in target["expr"], title
            assert "increase(" in target["expr"], title


def test_prompt_cache_panel() -> None:
    """Per model group and agent: input tokens, cache reads, their ratio and the USD saved, each in its unit."""
    panel = _panel("LLM spend and usage", "Prompt cache: hit ratio and USD saved")
    inputs, reads, ratio, saved = (t["expr"] for t in panel["targets"])
    assert 'otel_llm_token_type=~"input"' in inputs and 'otel_llm_token_type=~"cache_read"' in reads
    assert ratio.startswith(f"({reads} or {inputs} * 0) / ({inputs} > 0)")
    assert "otel_llm_client_cache_savings_USD_total" in saved
    assert all(t["expr"].startswith("sum by (otel_llm_model_group, gen_ai_agent_id) (") for t in panel["targets"][:2])
    units = {o["matcher"]["options"]: o["properties"][0]["value"] for o in panel["fieldConfig"]["overrides"]}
    assert units == {"Hit ratio": "percentunit", "USD saved": "currencyUSD"}


def test_overflow_panel_in_the_pipeline_row() -> None:
    """Values folded into _OTHER, per second by service, metric and attribute, 0 when none, in the pipeline row."""
    titles = [p["title"] for p in _dashboard("LLM performance and reliability")["panels"]]
    assert titles.index("Telemetry pipeline") < titles.index("Values folded into _OTHER")
    (target,) = _panel("LLM performance and reliability", "Values folded into _OTHER")["targets"]
    by = "service_name, otel_llm_metric_name, otel_llm_metric_attribute"
    assert target["expr"].startswith(f"sum by ({by}) (rate(otel_llm_metric_overflow_total{{") and target[
        "expr"
    ].endswith(" * 0")
