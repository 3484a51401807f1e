"""The README's reference tables name every attribute, metric and setting otel-llm has."""

from __future__ import annotations

from pathlib import Path

from otel_llm import _names
from otel_llm._config import default_text
from otel_llm._settings import SETTINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_name_is_documented() -> None:
    """Each attribute, metric and event name in _names appears in the README."""
    names = {
        value
        for key, value in vars(_names).items()
        if key.isupper() and isinstance(value, str) and "." in value and not value.startswith("https")
    }
    missing = sorted(name for name in names if f"`{name}`" not in README)
    assert not missing, f"undocumented names: {missing}"


def test_every_setting_is_documented_with_its_default() -> None:
    """Each environment variable appears in the README's table with its default."""
    for setting in SETTINGS:
        assert f"| `{setting.env}` | `{default_text(setting)}` |" in README, setting.env


def test_readme_runs_what_ci_runs() -> None:
    """The README's test command is the one .ci/run calls."""
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "./scripts/test" in ci and "./scripts/test" in README
