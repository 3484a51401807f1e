"""collector/alertmanager/: valid for amtool, Slack URL from a file, routing by severity, grouping by
team and key — checked with `amtool config routes test` for every alert the rules define."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.collector.stack import COLLECTOR, tool

ALERTMANAGER = COLLECTOR / "alertmanager"
CONFIG = ALERTMANAGER / "alertmanager.yml"


def _amtool(*args: str, config: Path = CONFIG) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("amtool"), *args, f"--config.file={config}"] if args[0] == "config" else [tool("amtool"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _alerts() -> list[dict[str, Any]]:
    rules = yaml.safe_load((COLLECTOR / "prometheus" / "rules" / "otel-llm.alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def test_amtool_check_config() -> None:
    """amtool accepts the configuration and finds the Slack templates."""
    result = _amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout and "4 receivers" in result.stdout


def test_amtool_check_config_rejects_an_unknown_receiver(tmp_path: Path) -> None:
    """The check can fail: a route to a receiver that does not exist."""
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(CONFIG.read_text().replace("receiver: slack-critical", "receiver: slack-criticl"))
    result = _amtool("check-config", str(broken))
    assert result.returncode != 0 and "slack-criticl" in result.stdout + result.stderr


def _expected_receiver(alert: dict[str, Any]) -> str:
    if alert["alert"] == "Watchdog":
        return "deadmans-switch"
    if alert["alert"].startswith(("Otel", "Prometheus", "Alertmanager")):
        return "slack-platform"
    return {"critical": "slack-critical", "warning": "slack-warning"}[alert["labels"]["severity"]]


@pytest.mark.parametrize("alert", _alerts(), ids=lambda a: a["alert"])
def test_every_alert_routes_by_severity(alert: dict[str, Any]) -> None:
    """`amtool config routes test` sends each alert, with its own labels, to the receiver its severity says."""
    expected = _expected_receiver(alert)
    labels = [f"alertname={alert['alert']}", *(f"{k}={v}" for k, v in alert["labels"].items())]
    labels += ["otel_llm_team_id=team-a", "otel_llm_key_hash=712dfaed4eaeb100"]
    result = _amtool("config", "routes", "test", f"--verify.receivers={expected}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == expected


def test_routes_test_can_fail() -> None:
    """A wrong expectation makes `amtool config routes test` fail."""
    result = _amtool("config", "routes", "test", "--verify.receivers=slack-warning", "severity=critical", "alertname=X")
    assert result.returncode != 0


def test_grouped_by_team_and_key_with_the_webhook_from_a_file() -> None:
    """Notifications group per alert, team and key; every Slack receiver reads its URL from a file."""
    config = yaml.safe_load(CONFIG.read_text())
    assert config["route"]["group_by"] == ["alertname", "otel_llm_team_id", "otel_llm_key_hash"]
    assert "slack_api_url" not in config.get("global", {})
    slack_receivers = [r for r in config["receivers"] if r["name"].startswith("slack-")]
    assert len(slack_receivers) == 3
    for receiver in slack_receivers:
        (slack,) = receiver["slack_configs"]
        assert "api_url" not in slack
        assert slack["api_url_file"] == "/run/secrets/slack_webhook_url"
        assert slack["send_resolved"] is True
        assert slack["text"] == '{{ template "otel_llm.slack.text" . }}'
    defined = re.findall(r"\{\{ define \"([\w.]+)\"", (ALERTMANAGER / "templates" / "otel-llm.tmpl").read_text())
    assert {"otel_llm.slack.title", "otel_llm.slack.text", "otel_llm.grafana_url"} <= set(defined)


def test_fast_burn_inhibits_slow_burn() -> None:
    """A fast SLO burn silences the slow-burn notification of the same model group (service, for availability)."""
    inhibitions = {
        (rule["source_matchers"][0], rule["target_matchers"][0]): rule.get("equal", [])
        for rule in yaml.safe_load(CONFIG.read_text())["inhibit_rules"]
    }
    for slo, equal in (("Latency", ["service_name", "otel_llm_model_group"]), ("Availability", ["service_name"])):
        key = (f'alertname="LLM{slo}SLOBurnFast"', f'alertname="LLM{slo}SLOBurnSlow"')
        assert inhibitions[key] == equal


def test_the_watchdog_never_goes_to_slack() -> None:
    """The always-firing Watchdog goes only to the dead man's switch, every 5 minutes; that
    receiver sends nothing until it is given a URL (a placeholder would fail every 5 minutes and
    page through AlertmanagerNotificationsFailing)."""
    config = yaml.safe_load(CONFIG.read_text())
    (route,) = [r for r in config["route"]["routes"] if r["receiver"] == "deadmans-switch"]
    assert config["route"]["routes"][0] is route and route["repeat_interval"] == "5m" and "continue" not in route
    (receiver,) = [r for r in config["receivers"] if r["name"] == "deadmans-switch"]
    assert set(receiver) == {"name"}
    (watchdog,) = [a for a in _alerts() if a["alert"] == "Watchdog"]
    assert watchdog["expr"] == "vector(1)" and "for" not in watchdog


def test_a_collector_down_explains_silent_services() -> None:
    """OtelCollectorDown inhibits OtelLLMTelemetryStopped (every service is silent then), for any service."""
    (rule,) = [
        r
        for r in yaml.safe_load(CONFIG.read_text())["inhibit_rules"]
        if r["target_matchers"] == ['alertname="OtelLLMTelemetryStopped"']
    ]
    assert rule["source_matchers"] == ['alertname="OtelCollectorDown"'] and "equal" not in rule


def _repeat_interval(alert: dict[str, Any]) -> str:
    """How often a still-firing alert's notification is sent again (collector/README.md's policy)."""
    name, severity = alert["alert"], alert["labels"]["severity"]
    if name == "Watchdog":
        return "5m"
    if name in ("LLMKeyBudgetHigh", "LLMTeamBudgetHigh") or name.endswith("SLOBurnSlow"):
        return "24h"  # states that last for days: once a day
    if name in ("LLMKeyBudgetExhausted", "LLMTeamBudgetExhausted"):
        return "12h"
    return {"critical": "1h", "warning": "4h"}[severity]


def _matched_route(labels: list[str]) -> dict[str, Any]:
    """The route amtool's --tree says the labels match, with the repeat_interval it inherits."""
    result = _amtool("config", "routes", "test", "--tree", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    path = re.findall(r"└── (\{[^}]*\})", result.stdout)
    route = yaml.safe_load(CONFIG.read_text())["route"]
    effective = dict(route)
    for matchers in path:
        (route,) = [r for r in route.get("routes", []) if "{" + ",".join(r.get("matchers", [])) + "}" == matchers]
        effective.update({k: v for k, v in route.items() if k != "routes"})
    return effective


@pytest.mark.parametrize("alert", _alerts(), ids=lambda a: a["alert"])
def test_every_alert_repeats_as_often_as_it_deserves(alert: dict[str, Any]) -> None:
    """`amtool config routes test --tree` finds each alert's route; its repeat_interval fits the alert:
    a monthly budget warning once a day, not six times; an incident every hour; the Watchdog every 5 minutes."""
    labels = [f"alertname={alert['alert']}", *(f"{k}={v}" for k, v in alert["labels"].items())]
    route = _matched_route([*labels, "otel_llm_team_id=team-a", "otel_llm_key_hash=712dfaed4eaeb100"])
    assert route["repeat_interval"] == _repeat_interval(alert)
    assert route["receiver"] == _expected_receiver(alert)


def test_route_tree_lookup_can_fail() -> None:
    """The lookup reads what amtool matched: a budget warning is not the default route's 4 hours."""
    route = _matched_route(["alertname=LLMKeyBudgetHigh", "severity=warning"])
    assert route["repeat_interval"] == "24h" != yaml.safe_load(CONFIG.read_text())["route"]["repeat_interval"]
