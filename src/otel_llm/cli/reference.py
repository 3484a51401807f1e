"""The generated parts of docs/reference.md: the metric index and the settings table, from the code.

``python -m otel_llm.cli.reference docs/reference.md`` rewrites every block between
``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->`` from otel-llm's one table of
metrics (``_emit/instruments.py``, the headroom gauges, the budget poller's counter) and its one
table of settings (``_settings.SETTINGS``, with ``Config``'s defaults); tests/test_docs.py fails when
the file is not what this writes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _buckets(buckets: Iterable[float]) -> str:
    values = [f"{int(b)}" if float(b).is_integer() else f"{b:g}" for b in buckets]
    if len(values) <= 8:
        return ", ".join(values)
    return f"{values[0]}, {values[1]} … {values[-1]} ({len(values)} bounds)"


def metrics_table() -> str:
    """Every metric otel-llm records: name, instrument, unit, bucket bounds, meaning."""
    from .._budgets.poller import POLLS  # noqa: PLC0415
    from .._emit import instruments  # noqa: PLC0415
    from .._emit.headroom import gauge_specs  # noqa: PLC0415

    specs = [*instruments.HISTOGRAMS, *instruments.COUNTERS, POLLS, *gauge_specs(300.0)]
    kinds = {"histogram": "histogram", "counter": "counter", "updowncounter": "up-down counter", "gauge": "gauge"}
    rows = ["| Metric | Instrument | Unit | Buckets | Meaning |", "|---|---|---|---|---|"]
    for spec in sorted(specs, key=lambda s: s.name):
        kind = kinds[spec.kind] + (" (shared)" if spec.shared else "")
        rows.append(
            f"| `{spec.name}` | {kind} | `{spec.unit}` | {_buckets(spec.buckets)} | {_cell(spec.description)} |"
        )
    return "\n".join(rows)


def settings_table() -> str:
    """Every setting: the variable, its default (Config's) and what it does."""
    from .._config import default_text  # noqa: PLC0415
    from .._settings import SETTINGS  # noqa: PLC0415

    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    rows += [f"| `{s.env}` | `{default_text(s)}` | {_cell(s.doc)} |" for s in SETTINGS]
    return "\n".join(rows)


GENERATORS: dict[str, Callable[[], str]] = {"metrics": metrics_table, "settings": settings_table}
_BLOCK = re.compile(r"(<!-- BEGIN GENERATED: (\w+) -->\n).*?(\n<!-- END GENERATED: \2 -->)", re.S)


def update(text: str) -> str:
    """``text`` with every generated block rewritten from the code."""

    def render(match: re.Match[str]) -> str:
        return match.group(1) + GENERATORS[match.group(2)]() + match.group(3)

    return _BLOCK.sub(render, text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated blocks of the given Markdown files in place."""
    for name in argv if argv is not None else sys.argv[1:]:
        path = Path(name)
        path.write_text(update(path.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
