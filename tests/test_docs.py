"""The docs: a README that is a landing page linking every page, and a reference current with the code."""

from __future__ import annotations

import re
from pathlib import Path

from otel_llm import _names
from otel_llm._config import default_text
from otel_llm._emit import instruments
from otel_llm._settings import SETTINGS
from otel_llm.cli import reference

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
REFERENCE = (ROOT / "docs" / "reference.md").read_text()
# The hops' spans (MCP, guardrails, A2A) are described, attribute by attribute, on their own page.
REFERENCE_PAGES = REFERENCE + (ROOT / "docs" / "gateway-hops.md").read_text()
README_LIMIT_BYTES = 15 * 1024


def test_every_name_is_documented() -> None:
    """Each attribute, metric and event name in _names appears in the reference (or the hops' page)."""
    names = {
        value
        for key, value in vars(_names).items()
        if key.isupper() and isinstance(value, str) and "." in value and not value.startswith("https")
    }
    missing = sorted(name for name in names if f"`{name}`" not in REFERENCE_PAGES)
    assert not missing, f"undocumented names: {missing}"


def test_every_setting_is_documented_with_its_default() -> None:
    """Each environment variable appears in the reference's table with its default."""
    for setting in SETTINGS:
        assert f"| `{setting.env}` | `{default_text(setting)}` |" in REFERENCE, setting.env


def test_the_generated_reference_is_current() -> None:
    """docs/reference.md's generated tables are what the code's tables give today
    (regenerate with `python -m otel_llm.cli.reference docs/reference.md`)."""
    assert "<!-- BEGIN GENERATED: metrics -->" in REFERENCE and "<!-- BEGIN GENERATED: settings -->" in REFERENCE
    assert reference.update(REFERENCE) == REFERENCE


def test_every_metric_is_in_the_index() -> None:
    """The metric index lists every metric of the one table, with its unit."""
    for spec in (*instruments.HISTOGRAMS, *instruments.COUNTERS):
        assert f"| `{spec.name}` | " in REFERENCE and f"| `{spec.unit}` |" in REFERENCE, spec.name


def test_readme_is_a_landing_page_linking_every_doc() -> None:
    """README.md stays under 15 KB and links every page in docs/ (the runbooks through their index)."""
    assert len(README.encode()) <= README_LIMIT_BYTES, len(README.encode())
    pages = [p for p in (ROOT / "docs").glob("*.md")] + [ROOT / "docs" / "runbooks" / "README.md"]
    links = set(re.findall(r"\]\(([^)#]+)", README))
    missing = [str(p.relative_to(ROOT)) for p in pages if str(p.relative_to(ROOT)) not in links]
    assert not missing, missing
    for doc in ("ARCHITECTURE.md", "CHANGELOG.md", "SECURITY.md"):
        assert doc in links and (ROOT / doc).exists(), doc


def test_links_between_docs_resolve() -> None:
    """Every relative link in README.md and docs/ points at a file that exists."""
    broken = []
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            if not (doc.parent / target).resolve().exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_readme_runs_what_ci_runs() -> None:
    """The README's test command is the one .ci/run calls."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./scripts/test" in ci and "./scripts/test" in README
