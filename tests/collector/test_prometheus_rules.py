"""collector/prometheus/: config and rules pass promtool, every alert is unit-tested firing and not
firing, and rules only use series names the real pipeline produces."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.collector.series import (
    RUNBOOK_BASE,
    RUNBOOKS,
    all_series,
    key_labels_on_histograms,
    metric_names,
    name_patterns,
    recorded_names,
    rule_files,
    runbook_queries,
)
from tests.collector.stack import COLLECTOR, REPO, tool

PROMETHEUS = COLLECTOR / "prometheus"
TESTS = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
LLM_LABELS = ("otel_llm_key_alias", "otel_llm_team_alias", "otel_llm_model_group", "otel_llm_fallback_from_model_group")
PIPELINE_LABELS = ("instance", "exporter", "receiver", "service_name")
SECTIONS = ("What it means", "First queries", "Fix", "Silence")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=120, check=False)


def _alerts() -> dict[str, dict[str, Any]]:
    alerts = {}
    for group in yaml.safe_load((PROMETHEUS / "rules" / "otel-llm.alerts.yml").read_text())["groups"]:
        for rule in group["rules"]:
            alerts[rule["alert"]] = {**rule, "group": group["name"]}
    return alerts


def test_promtool_check_config() -> None:
    """prometheus.yml (and the rule files it names) pass `promtool check config`."""
    result = _promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 3 rule files found" in result.stdout


def test_scrape_and_evaluation_every_15_seconds() -> None:
    """The committed intervals are 15 s; the Collector's exporter is scraped with honor_labels."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["otel-collector"]["honor_labels"] is True
    assert set(jobs) == {"otel-collector", "otel-collector-internal", "prometheus", "alertmanager"}


@pytest.mark.parametrize("path", rule_files(), ids=lambda p: p.name)
def test_promtool_check_rules(path: Path) -> None:
    """Each rule file passes `promtool check rules`."""
    result = _promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    """All unit tests (collector/prometheus/tests/*.test.yml) pass."""
    assert len(TESTS) >= 6
    result = _promtool("test", "rules", *map(str, TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_can_fail(tmp_path: Path) -> None:
    """A wrong expectation fails: the unit tests compare exact labels and annotations."""
    original = (PROMETHEUS / "tests" / "budgets.test.yml").read_text()
    broken = tmp_path / "budgets.test.yml"
    broken.write_text(original.replace("../rules/", f"{PROMETHEUS}/rules/").replace("used 85% of", "used 86% of"))
    result = _promtool("test", "rules", str(broken))
    assert result.returncode != 0 and "LLMKeyBudgetHigh" in result.stdout + result.stderr


def _unit_tests() -> dict[str, dict[str, int]]:
    cases: dict[str, dict[str, int]] = {}
    for path in TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                counts = cases.setdefault(case["alertname"], {"firing": 0, "quiet": 0})
                counts["firing" if case.get("exp_alerts") else "quiet"] += 1
    return cases


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    """Each alert has at least one unit test where it fires and one where it does not."""
    cases = _unit_tests()
    for name in _alerts():
        assert cases.get(name, {}).get("firing"), f"{name}: no firing test"
        # The Watchdog is never quiet: that is the point of it.
        assert name == "Watchdog" or cases.get(name, {}).get("quiet"), f"{name}: no not-firing test"
    assert set(cases) <= set(_alerts())


def test_the_issue_s_alerts_exist() -> None:
    """Budgets, rate limits, provider headroom, errors, SLO burns, fallbacks, loops, velocity, pipeline."""
    assert set(_alerts()) >= {
        "LLMKeyBudgetHigh",
        "LLMKeyBudgetExhausted",
        "LLMTeamBudgetHigh",
        "LLMKeyRPMUtilizationHigh",
        "LLMKeyTPMUtilizationHigh",
        "LLMProviderRemainingRequestsLow",
        "LLMProviderRemainingTokensLow",
        "LLMErrorRatioHigh",
        "LLMLatencySLOBurnFast",
        "LLMLatencySLOBurnSlow",
        "LLMTimeToFirstTokenSLOBurnFast",
        "LLMTimeToFirstTokenSLOBurnSlow",
        "LLMFallbackSpike",
        "LLMRunawayLoopDetected",
        "LLMKeySpendVelocityAnomaly",
        "OtelCollectorDown",
        "OtelCollectorExporterFailing",
        "OtelCollectorDroppingData",
        "OtelLLMTelemetryStopped",
        "Watchdog",
    }


def test_the_watchdog_alone_has_no_severity() -> None:
    """The dead man's switch fires always, pages nobody itself (severity none), and is alone in its group."""
    groups = yaml.safe_load((PROMETHEUS / "rules" / "otel-llm.alerts.yml").read_text())["groups"]
    (group,) = [g for g in groups if g["name"] == "otel-llm.watchdog"]
    (rule,) = group["rules"]
    assert rule["alert"] == "Watchdog" and rule["labels"] == {"severity": "none"} and rule["expr"] == "vector(1)"
    assert [a for a, alert in _alerts().items() if alert["labels"]["severity"] == "none"] == ["Watchdog"]


@pytest.mark.parametrize("name", sorted(set(_alerts()) - {"Watchdog"}))
def test_alert_has_severity_summary_naming_what_and_runbook(name: str) -> None:
    """severity is critical or warning; the summary names key/team/model (or the service or Collector
    part); a runbook page and a dashboard to open."""
    alert = _alerts()[name]
    assert alert["labels"]["severity"] in ("critical", "warning")
    annotations = alert["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url", "dashboard"}
    labels = PIPELINE_LABELS if alert["group"] == "otel-llm.pipeline" else (*LLM_LABELS, "service_name")
    assert any(f"$labels.{label}" in annotations["summary"] for label in labels), annotations["summary"]


def _dashboard_uids() -> set[str]:
    return {json.loads(p.read_text())["uid"] for p in (COLLECTOR / "grafana" / "dashboards").glob("*.json")}


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_every_alert_links_its_runbook_page_and_a_dashboard(name: str) -> None:
    """runbook_url is the repository's docs/runbooks/<alert>.md (the file exists, with what it means,
    the first three queries, the fix and how to silence it); `dashboard` is a dashboard UID here."""
    annotations = _alerts()[name]["annotations"]
    assert annotations["runbook_url"] == f"{RUNBOOK_BASE}{name}.md"
    page = RUNBOOKS / f"{name}.md"
    assert page.is_file(), f"{name}: no {page.relative_to(REPO)}"
    text = page.read_text()
    assert text.startswith(f"# {name}\n")
    for section in SECTIONS:
        assert f"\n## {section}\n" in text, f"{name}: no '## {section}'"
    assert len(runbook_queries(text)) >= 3, f"{name}: fewer than three queries"
    if name != "Watchdog":
        assert annotations["dashboard"] in _dashboard_uids(), annotations["dashboard"]


def test_every_runbook_page_is_an_alert_s() -> None:
    """No page for an alert that no longer exists; the index lists every page."""
    pages = {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"}
    assert pages == set(_alerts())
    index = (RUNBOOKS / "README.md").read_text()
    assert not [name for name in pages if f"({name}.md)" not in index]


def test_runbook_queries_are_promql_on_known_series(tmp_path: Path) -> None:
    """The runbooks' queries parse (promtool checks them as recording rules) and name only series the
    pipeline produces or the rules record (the end-to-end test runs them on the real Prometheus)."""
    known = all_series() | recorded_names()
    rules = []
    for page in sorted(RUNBOOKS.glob("*.md")):
        for number, expr in enumerate(runbook_queries(page.read_text())):
            names = metric_names(expr)
            assert names <= known, (page.name, names - known)
            rules.append({"record": f"runbook:{page.stem}:{number}", "expr": expr})
    path = tmp_path / "runbooks.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "runbooks", "rules": rules}]}))
    result = _promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_rules_use_only_series_the_pipeline_produces() -> None:
    """Every metric name in every rule is an otel-llm/Collector series (names checked end to end) or recorded."""
    known = all_series() | recorded_names()
    used: set[str] = set()
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                names = metric_names(rule["expr"])
                patterns = name_patterns(rule["expr"])
                # A constant: the Watchdog's vector(1), the guardrail latency budgets' seconds.
                assert names or patterns or re.fullmatch(r"vector\([0-9.]+\)", rule["expr"]), rule["expr"]
                assert not patterns or any(re.fullmatch(p, n) for p in patterns for n in known), patterns
                used |= names
    assert used - known == set()
    assert "otel_llm_key_budget_utilization_ratio" in used and "otel_llm_loop_detections_total" in used


def test_no_rule_or_runbook_reads_a_key_from_a_histogram() -> None:
    """Histograms carry no key (only model labels, team and agent): per-key figures come from the
    per-key counters, in every rule and every runbook query."""
    exprs = [
        rule["expr"] for path in rule_files() for g in yaml.safe_load(path.read_text())["groups"] for rule in g["rules"]
    ]
    exprs += [q for page in sorted(RUNBOOKS.glob("*.md")) for q in runbook_queries(page.read_text())]
    assert not [(expr, found) for expr in exprs if (found := key_labels_on_histograms(expr))]
    old_panel = (
        'sum by (otel_llm_key_alias) (rate(gen_ai_client_operation_duration_seconds_count{service_name="x"}[5m]))'
    )
    assert key_labels_on_histograms(old_panel) and key_labels_on_histograms(
        'otel_llm_client_cost_USD_sum{otel_llm_key_hash="a"}'
    )


def test_metric_name_extraction() -> None:
    """The name extraction skips label names, strings, functions and ranges."""
    expr = (
        'sum by (otel_llm_key_alias) (rate(otel_llm_client_cost_USD_sum{otel_llm_team_id="a"}[5m])) '
        "/ on (otel_llm_key_alias) otel_llm_key:spend_usd:rate5m > 3 * max_over_time(up[1h]) "
        'or label_replace(x_total, "dst", "$1", "src", "(.+)")'
    )
    assert metric_names(expr) == {"otel_llm_client_cost_USD_sum", "otel_llm_key:spend_usd:rate5m", "up", "x_total"}
