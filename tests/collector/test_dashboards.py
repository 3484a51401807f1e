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

from tests.collector.series import all_series, metric_names, name_patterns, recorded_names
from tests.collector.stack import COLLECTOR

GRAFANA = COLLECTOR / "grafana"
GENERATOR = GRAFANA / "generate.py"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def _generate(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(GENERATOR), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _dashboard(title: str) -> dict[str, Any]:
    (dashboard,) = [d for d in (json.loads(p.read_text()) for p in DASHBOARDS) if d["title"] == title]
    return dashboard


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
    """Each dashboard filters by service, team, key, model and provider (multi-select, All = .*)."""
    variables = {v["name"]: v for v in json.loads(path.read_text())["templating"]["list"]}
    assert set(variables) == {"datasource", "service", "team", "key", "model", "provider"}
    for name in ("service", "team", "key", "model", "provider"):
        assert variables[name]["type"] == "query" and variables[name]["multi"] and variables[name]["includeAll"]
        assert variables[name]["allValue"] == ".*"
        assert re.fullmatch(r"label_values\(\w+, \w+\)", variables[name]["query"])


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
            names = metric_names(target["expr"])
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
    """Requests/s, errors, p50/p95/p99, TTFT, retries/fallbacks, headroom, loops, pipeline health."""
    dashboard = _dashboard("LLM performance and reliability")
    titles = {p["title"] for p in dashboard["panels"]}
    assert titles >= {
        "Requests per second",
        "Error ratio",
        "Refused by the proxy",
        "Latency p50 / p95 / p99",
        "Time to first token p50 / p95",
        "Retries",
        "Fallbacks",
        "Key rpm limit used",
        "Provider requests left",
        "Loop detections",
        "Collector up",
        "Exporter sent / failed",
    }
    (latency,) = [p for p in dashboard["panels"] if p["title"] == "Latency p50 / p95 / p99"]
    assert [t["legendFormat"] for t in latency["targets"]] == ["p50", "p95", "p99"]
    assert all(t["exemplar"] for t in latency["targets"])


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
