"""Generate otel-llm's Grafana dashboards (collector/grafana/dashboards/*.json) as code.

Built with the Grafana Foundation SDK (pin: ``grafana-foundation-sdk==0.0.21``; an unpinned
install can pick an old build for Grafana 10). Run ``python collector/grafana/generate.py`` after
editing; ``--check`` exits 1 when the committed JSON differs from what this file generates
(tests/collector/test_dashboards.py runs it in CI).

The dashboards live beside this file: spend.py ("LLM spend and usage"), performance.py ("LLM
performance and reliability", with pipeline.py's section) and hops.py ("Tools and guardrails"), built
from panels.py's blocks. Each is a list of sections (a row and its panels), so a new section is one
function and one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from hops import tools_dashboard
from performance import performance_dashboard
from spend import spend_dashboard

OUT = Path(__file__).parent / "dashboards"

DASHBOARDS = {
    "llm-spend-and-usage.json": spend_dashboard,
    "llm-performance-and-reliability.json": performance_dashboard,
    "tools-and-guardrails.json": tools_dashboard,
}


def render() -> dict[str, str]:
    """The JSON text of every dashboard, by file name."""
    texts = {}
    for name, build in DASHBOARDS.items():
        board = build().build()
        for number, panel in enumerate(board.panels or [], start=1):
            panel.id_val = number  # Grafana links and edits panels by id: unique, stable
        texts[name] = json.dumps(board, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
    return texts


def main(argv: list[str] | None = None) -> int:
    """Write the dashboards; with --check, exit 1 naming the committed files that are out of date."""
    parser = argparse.ArgumentParser(description="Generate otel-llm's Grafana dashboards.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is out of date")
    parser.add_argument("--out", type=Path, default=OUT, help=f"directory of the JSON files (default {OUT})")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run: python collector/grafana/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
