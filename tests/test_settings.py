"""The one settings table: every OTEL_LLM_* variable is declared, parsed, validated and read in one place."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from otel_llm._config import Config, default_text, resolve, settings_of
from otel_llm._settings import CONTENT_ENV, ENV_PREFIX, SETTINGS, Setting
from otel_llm._validation import validate
from otel_llm.cli.settings_check import check_settings

SRC = Path(__file__).resolve().parent.parent / "src" / "otel_llm"
SETTINGS_MODULES = {SRC / "_settings.py", SRC / "_validation.py"}


def test_each_setting_fills_one_config_field() -> None:
    """Every setting names a Config field, and no field is filled by two settings."""
    fields = {f.name for f in dataclasses.fields(Config)}
    named = [s.field for s in SETTINGS]
    assert len(named) == len(set(named))
    assert set(named) <= fields
    assert all(s.env.startswith(ENV_PREFIX) or s.env == CONTENT_ENV for s in SETTINGS)


def test_defaults_come_from_config() -> None:
    """The documented default is Config's own default, rendered for the docs."""
    shown = {s.env: default_text(s) for s in SETTINGS}
    assert shown["OTEL_LLM_LOOP_REPEATS"] == str(Config().loop_repeats)
    assert shown["OTEL_LLM_METRIC_ATTRIBUTION"] == ",".join(sorted(Config().metric_attribution))
    assert shown["OTEL_LLM_PROXY_HTTP_SPANS"] == "false"
    assert shown[CONTENT_ENV] == "NO_CONTENT"
    assert shown["OTEL_LLM_KEY_HASH_SALT"] == "(derived)"


def _reads_of_our_variables(path: Path) -> list[str]:
    """``X.get("OTEL_LLM_…")``, ``getenv("OTEL_LLM_…")`` and ``X["OTEL_LLM_…"]`` reads in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        name: object = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("get", "getenv") and isinstance(node.args[0], ast.Constant):
                name = node.args[0].value
        elif (
            isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and isinstance(node.slice, ast.Constant)
        ):
            name = node.slice.value
        if isinstance(name, str) and (name.startswith(ENV_PREFIX) or name == CONTENT_ENV):
            found.append(f"{path.relative_to(SRC)}:{node.lineno} reads {name}")
    return found


def test_no_module_but_the_settings_table_reads_our_variables() -> None:
    """Every OTEL_LLM_* read goes through the settings table (no ad hoc os.environ reads)."""
    reads = [
        read
        for path in sorted(SRC.rglob("*.py"))
        if path not in SETTINGS_MODULES
        for read in _reads_of_our_variables(path)
    ]
    assert not reads, reads


def test_the_check_finds_an_ad_hoc_read(tmp_path: Path) -> None:
    """The scan above is not vacuous: it finds each shape of read."""
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nos.environ.get('OTEL_LLM_EXPORTER')\nos.getenv('OTEL_LLM_X')\nenv['OTEL_LLM_Y']\nenv.get('OTHER')\n"
    )
    global SRC
    saved, SRC = SRC, tmp_path
    try:
        assert len(_reads_of_our_variables(module)) == 3
    finally:
        SRC = saved


# Any non-empty text is a valid salt: nothing to refuse.
REFUSING = [s for s in SETTINGS if s.env != "OTEL_LLM_KEY_HASH_SALT"]


@pytest.mark.parametrize("setting", REFUSING, ids=lambda s: s.env)
def test_every_setting_rejects_nonsense_with_its_fix(setting: Setting) -> None:
    """Each setting refuses an invalid value with a problem naming it and a fix (secrets never echoed)."""
    values, problems = validate({setting.env: "\u0000not valid\u0000"})
    assert setting.field not in values
    (problem,) = problems
    assert problem.setting == setting.env and problem.severity == "error" and problem.fix
    assert setting.env in problem.message
    assert ("not valid" in problem.message) is not setting.secret


def test_doctor_and_runtime_report_the_same_problems(caplog: pytest.LogCaptureFixture) -> None:
    """The doctor's findings are validate's problems, which the runtime logs: one source of truth."""
    env = {"OTEL_LLM_LOOP_MODE": "sometimes", "OTEL_LLM_LOOP_MODEE": "block", "OTEL_LLM_EXPORTER": "zipkin"}
    findings = check_settings(env)
    assert sorted((f.level, f.message) for f in findings) == sorted(
        [
            ("error", "OTEL_LLM_EXPORTER='zipkin' is invalid"),
            ("error", "OTEL_LLM_LOOP_MODE='sometimes' is invalid"),
            ("warning", "unknown setting OTEL_LLM_LOOP_MODEE is ignored"),
        ]
    )
    assert "did you mean OTEL_LLM_LOOP_MODE?" in next(f.fix for f in findings if "MODEE" in f.message)
    with caplog.at_level("WARNING", logger="otel_llm"):
        config = resolve(env)
    assert len(caplog.records) == 3
    assert config == settings_of(env) and config.exporter == "otlp" and config.loop_mode == "observe"


def test_problems_are_logged_once_per_process(caplog: pytest.LogCaptureFixture) -> None:
    """Several callbacks resolving one environment log each problem once."""
    with caplog.at_level("WARNING", logger="otel_llm"):
        for _ in range(3):
            resolve({"OTEL_LLM_LOOP_REPEATS": "many"})
    assert len(caplog.records) == 1
