"""What the end-to-end tests read back: dashboard panel queries as Grafana would run them, and the
links in a Slack message (runbook page, dashboard and its filters)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.collector.series import RUNBOOK_BASE
from tests.collector.stack import COLLECTOR, REPO

# The dashboards' Grafana variables, as "All" selects them, and Grafana's interval variables.
VARIABLES = {
    "$__rate_interval": "5m",
    "$__range": "1h",
    "$__interval": "15s",
    "$service": ".*",
    "$team": ".*",
    "$key": ".*",
    "$agent": ".*",
    "$model": ".*",
    "$provider": ".*",
}
DASHBOARDS = COLLECTOR / "grafana" / "dashboards"


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard title, "panel title [refId]", expression) of every panel target of every dashboard."""
    queries = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                queries.append((dashboard["title"], f"{panel['title']} [{target['refId']}]", target["expr"]))
    return queries


def panel_targets(title: str) -> list[str]:
    """The expressions of the panel called ``title``, in refId order."""
    return [expr for _, panel, expr in panel_queries() if panel.rsplit(" [", 1)[0] == title]


def substitute(expr: str, overrides: dict[str, str] | None = None) -> str:
    """``expr`` with the dashboard variables as Grafana fills them (All, unless overridden)."""
    for name, value in sorted({**VARIABLES, **(overrides or {})}.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    assert "$" not in expr.replace("$1", ""), f"unsubstituted variable in {expr}"
    return expr


def has_values(result: list[dict[str, Any]]) -> bool:
    """At least one real number in an instant query's result."""
    return any(r["value"][1] not in ("NaN", "+Inf", "-Inf") for r in result)


def links(text: str) -> dict[str, str]:
    """Slack's <url|label> links of a message, by label."""
    return {label: url for url, label in re.findall(r"<([^|>]+)\|([^>]+)>", text)}


def runbook_page(url: str) -> Path:
    """The repository file a runbook_url points at (it must exist)."""
    assert url.startswith(RUNBOOK_BASE), url
    page = REPO / "docs" / "runbooks" / url.removeprefix(RUNBOOK_BASE)
    assert page.is_file(), url
    return page


def dashboard(url: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The committed dashboard a Grafana link opens (by UID), and the variables it sets (which it must have)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://localhost:3000", url  # compose's Grafana
    uid = parts.path.removeprefix("/d/")
    (board,) = [d for d in (json.loads(p.read_text()) for p in DASHBOARDS.glob("*.json")) if d["uid"] == uid]
    variables = {v["name"] for v in board["templating"]["list"]}
    query = parse_qs(parts.query)
    assert query.pop("from") == ["now-6h"] and query.pop("to") == ["now"]
    filters = {name.removeprefix("var-"): values for name, values in query.items()}
    assert set(filters) <= variables, url
    return board, filters


def slack_messages(received: list[dict[str, Any]], *words: str) -> list[dict[str, Any]]:
    """The messages whose body mentions every one of ``words``."""
    return [m for m in received if all(word in json.dumps(m["body"]) for word in words)]
