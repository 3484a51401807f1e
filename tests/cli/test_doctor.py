"""`otel-llm doctor`: one test per finding, on good and broken set-ups."""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from otel_llm.cli import doctor
from otel_llm.package import TESTED
from tests.otlp_receiver import OtlpReceiver

GOOD_CONFIG = {
    "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/gpt-4o-mini"}}],
    "litellm_settings": {"callbacks": ["otel_llm.proxy.callback"]},
    "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
}


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
def good_env(collector: OtlpReceiver) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_SERVICE_NAME": "gateway",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod",
        "LITELLM_MASTER_KEY": "sk-master",
    }


def _config(tmp_path: Path, **changes: object) -> Path:
    config = {**GOOD_CONFIG, **changes}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _findings(code_and_findings: tuple[int, list[doctor.Finding]], topic: str) -> list[doctor.Finding]:
    return [f for f in code_and_findings[1] if f.topic == topic]


def test_good_setup_passes(tmp_path: Path, good_env: dict[str, str]) -> None:
    """A correct config and environment: exit 0, no error, no warning."""
    code, findings = doctor.run(_config(tmp_path), good_env)
    assert code == 0
    assert [f for f in findings if f.level != doctor.OK] == []


def test_missing_callback(tmp_path: Path, good_env: dict[str, str]) -> None:
    """No callback line: an error whose fix is the line to add."""
    result = doctor.run(_config(tmp_path, litellm_settings={"callbacks": []}), good_env)
    (finding,) = _findings(result, "callback")
    assert result[0] == 1 and finding.level == doctor.ERROR and "otel_llm.proxy.callback" in finding.fix


def test_unsupported_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    """A LiteLLM outside the supported range is an error naming the range (version lookup faked)."""
    real = importlib.metadata.version
    monkeypatch.setattr(
        doctor.importlib.metadata, "version", lambda name: "1.50.0" if name == "litellm" else real(name)
    )
    (finding,) = doctor.check_litellm_version()
    assert finding.level == doctor.ERROR and "1.50.0" in finding.message and "pip install" in finding.fix


def test_litellm_newer_than_tested(monkeypatch: pytest.MonkeyPatch) -> None:
    """A LiteLLM newer than the newest tested release is supported, with a warning that says so and
    how to stay on the tested range (version lookup faked: no such release exists yet)."""
    real = importlib.metadata.version
    monkeypatch.setattr(
        doctor.importlib.metadata, "version", lambda name: "1.999.0" if name == "litellm" else real(name)
    )
    (finding,) = doctor.check_litellm_version()
    assert finding.level == doctor.WARN and "1.999.0 is newer than the newest release" in finding.message
    assert f"<={TESTED[1]}" in finding.fix


def test_litellm_in_the_tested_range() -> None:
    """The LiteLLM CI installs is supported, and the finding names the tested range."""
    (finding,) = doctor.check_litellm_version()
    assert finding.level == doctor.OK and f"tested {TESTED[0]} to {TESTED[1]}" in finding.message


def test_unreachable_endpoint(good_env: dict[str, str]) -> None:
    """An endpoint nobody listens on is an error; none at all is a warning about the default."""
    from tests.proxy.harness import free_port

    (finding,) = doctor.check_endpoint({**good_env, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"})
    assert finding.level == doctor.ERROR and "start the Collector" in finding.fix
    unset = doctor.check_endpoint({})
    assert unset[0].level == doctor.WARN and "OTEL_EXPORTER_OTLP_ENDPOINT is not set" in unset[0].message


def test_endpoint_credentials_are_not_printed(good_env: dict[str, str]) -> None:
    """The doctor never prints credentials embedded in the endpoint URL."""
    findings = doctor.check_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://user:secretpw@127.0.0.1:9/otlp?token=abc"})
    assert all("secretpw" not in f.render() and "abc" not in f.render() for f in findings)


def test_service_name_and_resource(good_env: dict[str, str]) -> None:
    """Unset service name and resource attributes are warnings with the variable to set."""
    findings = doctor.check_resource({})
    assert [f.level for f in findings] == [doctor.WARN, doctor.WARN]
    assert "OTEL_SERVICE_NAME" in findings[0].fix and "OTEL_RESOURCE_ATTRIBUTES" in findings[1].fix


def test_multi_worker_pitfalls(tmp_path: Path) -> None:
    """Prometheus endpoint with workers, LiteLLM's prometheus without a multiprocess dir, and a bad dir: errors."""
    prometheus = doctor.check_workers({"OTEL_LLM_EXPORTER": "prometheus"}, GOOD_CONFIG, workers=4)
    assert prometheus[0].level == doctor.ERROR and "OTEL_LLM_EXPORTER=otlp" in prometheus[0].fix
    litellm_prom = {**GOOD_CONFIG, "litellm_settings": {"callbacks": ["otel_llm.proxy.callback", "prometheus"]}}
    (missing,) = doctor.check_workers({}, litellm_prom, workers=2)
    assert missing.level == doctor.ERROR and "PROMETHEUS_MULTIPROC_DIR" in missing.fix
    (bad_dir,) = doctor.check_workers({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "nope")}, GOOD_CONFIG, workers=1)
    assert bad_dir.level == doctor.ERROR and "mkdir -p" in bad_dir.fix
    (ok,) = doctor.check_workers({}, GOOD_CONFIG, workers=8)
    assert ok.level == doctor.OK


def test_conflicting_instrumentation(monkeypatch: pytest.MonkeyPatch) -> None:
    """LiteLLM's own otel callback and other LiteLLM instrumentations are flagged (package lookup faked)."""
    config = {
        **GOOD_CONFIG,
        "litellm_settings": {"callbacks": ["otel_llm.proxy.callback"], "success_callback": ["otel"]},
    }
    (builtin,) = doctor.check_conflicts({}, config)
    assert builtin.level == doctor.WARN and "'otel'" in builtin.message
    real = importlib.metadata.version
    monkeypatch.setattr(
        doctor.importlib.metadata,
        "version",
        lambda name: "0.1" if name == "openinference-instrumentation-litellm" else real(name),
    )
    (installed,) = doctor.check_conflicts({}, GOOD_CONFIG)
    assert "OpenInference" in installed.message and "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=litellm" in installed.fix
    assert (
        doctor.check_conflicts({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "litellm"}, GOOD_CONFIG)[0].level == doctor.OK
    )


def test_content_capture_status() -> None:
    """Content capture on is a warning saying where prompts go."""
    (on,) = doctor.check_content({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY"})
    assert on.level == doctor.WARN and "log events" in on.message
    assert doctor.check_content({})[0].level == doctor.OK


def _by_topic(findings: list[doctor.Finding]) -> dict[str, doctor.Finding]:
    assert len({f.topic for f in findings}) == len(findings), findings
    return {f.topic: f for f in findings}


def test_master_key(tmp_path: Path) -> None:
    """No master key is an error."""
    config = {**GOOD_CONFIG, "general_settings": {}}
    finding = _by_topic(doctor.check_master_key({}, config))["master key"]
    assert finding.level == doctor.ERROR and "LITELLM_MASTER_KEY" in finding.fix


def test_key_hash_salt_needs_a_master_key_the_proxy_has() -> None:
    """Stable hashes: the salt is set or a master key resolves (env, literal, os.environ/NAME); else a warning."""
    literal = {**GOOD_CONFIG, "general_settings": {"master_key": "sk-literal"}}
    assert _by_topic(doctor.check_master_key({}, literal))["key hashes"].level == doctor.OK
    other_var = {**GOOD_CONFIG, "general_settings": {"master_key": "os.environ/PROXY_KEY"}}
    assert _by_topic(doctor.check_master_key({"PROXY_KEY": "sk-x"}, other_var))["key hashes"].level == doctor.OK
    random_salt = _by_topic(doctor.check_master_key({}, GOOD_CONFIG))["key hashes"]
    assert random_salt.level == doctor.WARN and "random per-process salt" in random_salt.message
    assert "OTEL_LLM_KEY_HASH_SALT" in random_salt.fix and "all workers" in random_salt.fix
    salted = _by_topic(doctor.check_master_key({"OTEL_LLM_KEY_HASH_SALT": "s"}, GOOD_CONFIG))["key hashes"]
    assert salted.level == doctor.OK and "OTEL_LLM_KEY_HASH_SALT" in salted.message


def test_master_key_reference_to_an_unset_variable() -> None:
    """general_settings.master_key: os.environ/NAME with NAME unset: the proxy refuses to start."""
    unset = _by_topic(doctor.check_master_key({}, GOOD_CONFIG))["master key"]
    assert unset.level == doctor.ERROR and "LITELLM_MASTER_KEY is not set" in unset.message
    assert "set LITELLM_MASTER_KEY" in unset.fix
    empty = _by_topic(doctor.check_master_key({"LITELLM_MASTER_KEY": " "}, GOOD_CONFIG))["master key"]
    assert empty.level == doctor.ERROR
    other_var = {**GOOD_CONFIG, "general_settings": {"master_key": "os.environ/PROXY_KEY"}}
    # The config's reference wins over LITELLM_MASTER_KEY, as in LiteLLM.
    (wrong,) = [
        f for f in doctor.check_master_key({"LITELLM_MASTER_KEY": "sk-m"}, other_var) if f.level == doctor.ERROR
    ]
    assert "PROXY_KEY" in wrong.message and "PROXY_KEY" in wrong.fix
    vault = {**GOOD_CONFIG, "general_settings": {**other_var["general_settings"], "key_management_system": "aws_kms"}}
    assert _by_topic(doctor.check_master_key({}, vault))["master key"].level == doctor.WARN


def test_master_key_without_config() -> None:
    """No --config: the environment's master key and salt are still checked, or the skip is said."""
    skipped = _by_topic(doctor.check_master_key({}, None))
    assert skipped["master key"].level == doctor.WARN and "skipped" in skipped["master key"].message
    assert "--config" in skipped["master key"].fix
    assert skipped["key hashes"].level == doctor.WARN and "OTEL_LLM_KEY_HASH_SALT" in skipped["key hashes"].fix
    from_env = _by_topic(doctor.check_master_key({"LITELLM_MASTER_KEY": "sk-m"}, None))
    assert [f.level for f in from_env.values()] == [doctor.OK, doctor.OK]
    _, findings = doctor.run(None, {"OTEL_LLM_KEY_HASH_SALT": "s"})
    assert {"master key", "key hashes"} <= {f.topic for f in findings}


def test_prometheus_exporter_not_installed(monkeypatch: pytest.MonkeyPatch, good_env: dict[str, str]) -> None:
    """OTEL_LLM_EXPORTER=prometheus without the exporter package is an error with the extra to install."""
    env = {**good_env, "OTEL_LLM_EXPORTER": "prometheus"}
    assert doctor.check_endpoint(env)[0].level == doctor.OK
    monkeypatch.setattr(doctor, "module_available", lambda name: name != doctor.PROMETHEUS_EXPORTER)
    missing, *otlp = doctor.check_endpoint(env)
    assert missing.level == doctor.ERROR and missing.fix == "pip install 'otel-llm[proxy,prometheus]'"
    assert [f.level for f in otlp] == [doctor.OK]  # the OTLP fallback is checked too
    monkeypatch.setattr(doctor, "module_available", lambda name: False)
    (no_otlp,) = doctor.check_endpoint(good_env)
    assert no_otlp.level == doctor.ERROR and "OTLP exporter" in no_otlp.message


def test_module_available() -> None:
    """A missing parent package is 'not available', not an exception."""
    from otel_llm import cli

    assert cli.module_available("json") and not cli.module_available("no_such_package.exporter")


def test_invalid_and_unknown_settings(
    tmp_path: Path, good_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The runtime's validation: invalid values are errors, unknown OTEL_LLM_* names warnings, each with the fix."""
    bad = {"OTEL_LLM_EXPORTER": "promethus", "OTEL_LLM_LOOP_MODE": "blok", "OTEL_LLM_EXPORTR": "x"}
    for _ in range(2):  # the runtime reports an unknown name once per process; the doctor every time
        findings = {re.findall(r"OTEL_LLM_[A-Z_]+", f.message)[0]: f for f in doctor.check_settings(bad)}
        assert findings["OTEL_LLM_EXPORTER"].level == doctor.ERROR and "otlp" in findings["OTEL_LLM_EXPORTER"].fix
        assert findings["OTEL_LLM_LOOP_MODE"].level == doctor.ERROR
        assert "'blok' is invalid" in findings["OTEL_LLM_LOOP_MODE"].message
        assert "observe, block, off" in findings["OTEL_LLM_LOOP_MODE"].fix
        assert "unset it for the default (observe)" in findings["OTEL_LLM_LOOP_MODE"].fix
        unknown = findings["OTEL_LLM_EXPORTR"]
        assert unknown.level == doctor.WARN and "did you mean OTEL_LLM_EXPORTER" in unknown.fix
    assert capsys.readouterr().err == ""  # reported as findings, not logged
    assert doctor.check_settings({"OTEL_LLM_LOOP_MODE": "block"}) == [
        doctor.Finding(doctor.OK, "settings", "every OTEL_LLM_* setting is valid")
    ]
    code, _ = doctor.run(_config(tmp_path), {**good_env, "OTEL_LLM_LOOP_MODE": "blok"})
    assert code == 1


def test_workers_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    """--workers 0 or -3 is refused when the arguments are parsed, like the demo's flags."""
    from otel_llm import cli

    for value in ("0", "-3"):
        with pytest.raises(SystemExit) as exit_info:
            cli.parser().parse_args(["doctor", "--workers", value])
        assert exit_info.value.code == 2 and f"'{value}' must be greater than 0" in capsys.readouterr().err
    assert cli.parser().parse_args(["doctor", "--workers", "2"]).workers == 2


def test_litellm_otel_callback_without_ours() -> None:
    """Only LiteLLM's 'otel' callback: not 'two spans' (there is one), but otel-llm's callback is missing."""
    config = {**GOOD_CONFIG, "litellm_settings": {"callbacks": ["otel"]}}
    assert all("two LLM spans" not in f.message for f in doctor.check_conflicts({}, config))
    (missing,) = doctor.check_callback(config)
    assert missing.level == doctor.ERROR and "otel_llm.proxy.callback" in missing.fix


def _litellm_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """Point the doctor at a stand-in for LiteLLM's proxy_cli.py."""
    source = tmp_path / "proxy_cli.py"
    source.write_text(text)
    spec = importlib.machinery.ModuleSpec("litellm.proxy.proxy_cli", None, origin=str(source))
    monkeypatch.setattr(doctor.importlib.util, "find_spec", lambda name: spec)


REAPER_IN_MASTER = "def run_gunicorn_server(app):\n    start_query_engine_reaper()\n    serve(app)\n"


def test_gunicorn_reaper_read_from_litellm_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where LiteLLM starts its reaper decides; a source without the function or unreadable is 'cannot tell'."""
    import inspect

    from litellm.proxy.proxy_cli import ProxyInitializationHelpers

    # The installed LiteLLM, read a second, independent way (1.102.4 and 1.108.7 both start it).
    names = ("run_gunicorn_server", "_run_gunicorn_server")
    launcher = next(
        getattr(ProxyInitializationHelpers, name) for name in names if hasattr(ProxyInitializationHelpers, name)
    )
    installed = "start_query_engine_reaper(" in inspect.getsource(launcher)
    assert doctor.gunicorn_master_starts_reaper() is installed
    _litellm_source(tmp_path, monkeypatch, REAPER_IN_MASTER)
    assert doctor.gunicorn_master_starts_reaper() is True
    # Started elsewhere in the file (the uvicorn path spawns its workers): not the race.
    _litellm_source(
        tmp_path,
        monkeypatch,
        "def run_gunicorn_server(app):\n    serve(app)\n\ndef other():\n    start_query_engine_reaper()\n",
    )
    assert doctor.gunicorn_master_starts_reaper() is False
    (ok,) = doctor.check_gunicorn({}, run_gunicorn=True, workers=2)
    assert ok.level == doctor.OK and "no thread" in ok.message
    _litellm_source(tmp_path, monkeypatch, "def serve(app):\n    pass\n")
    assert doctor.gunicorn_master_starts_reaper() is None
    _litellm_source(tmp_path, monkeypatch, "def run_gunicorn_server(:\n")
    assert doctor.gunicorn_master_starts_reaper() is None
    (unsure,) = doctor.check_gunicorn({"PATH": os.environ.get("PATH", "")}, run_gunicorn=True, workers=2)
    assert unsure.level == doctor.WARN and "could not be read" in unsure.message


def test_gunicorn_startup_race(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--run_gunicorn on a LiteLLM with the race: a warning with both fixes, unless the ascii codec is preloaded."""
    _litellm_source(tmp_path, monkeypatch, REAPER_IN_MASTER)
    assert doctor.check_gunicorn({}, run_gunicorn=False, workers=4) == []
    base = {"PATH": os.environ.get("PATH", "")}
    (warning,) = doctor.check_gunicorn(base, run_gunicorn=True, workers=4)
    assert warning.level == doctor.WARN and "4 worker(s)" in warning.message
    assert "--run_gunicorn" in warning.fix and "import encodings.ascii" in warning.fix
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import encodings.ascii\n")
    (fixed,) = doctor.check_gunicorn({**base, "PYTHONPATH": str(site)}, run_gunicorn=True, workers=4)
    assert fixed.level == doctor.OK and "ascii codec" in fixed.message


def _doctor_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``otel-llm doctor ARGS`` as a user runs it, with OTEL_* from ``env`` only."""
    cli = str(Path(sys.executable).parent / "otel-llm")
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [cli, "doctor", *args], env={**base, **env}, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.e2e
def test_command_exit_codes(tmp_path: Path, good_env: dict[str, str]) -> None:
    """The command exits 0 on a good set-up and 1 with the fixes printed on a broken one."""
    good = _doctor_command(good_env, "--config", str(_config(tmp_path)))
    assert good.returncode == 0, good.stdout
    assert "0 error(s), 0 warning(s)" in good.stdout
    broken_config = _config(tmp_path, litellm_settings={"callbacks": ["prometheus"]}, general_settings={})
    broken = _doctor_command(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}, "--config", str(broken_config), "--workers", "2"
    )
    assert broken.returncode == 1
    assert broken.stdout.count("✘") >= 4 and "fix:" in broken.stdout
    gunicorn = _doctor_command(good_env, "--config", str(_config(tmp_path)), "--workers", "4", "--run_gunicorn")
    assert gunicorn.returncode == 0, gunicorn.stdout
    race = doctor.gunicorn_master_starts_reaper() is not False
    assert ("! gunicorn: --run_gunicorn with 4 worker(s)" in gunicorn.stdout) is race, gunicorn.stdout
    assert ("✔ gunicorn:" in gunicorn.stdout) is not race, gunicorn.stdout


def test_loop_windows_shared_across_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several workers without Redis: a warning with the fix; a Redis URL without the redis package:
    an error naming the extra; one worker, Redis usable, or detection off: fine."""
    (alone,) = doctor.check_loop_windows({}, workers=4)
    assert alone.level == doctor.WARN and "OTEL_LLM_LOOP_REDIS_URL" in alone.fix and "4x" in alone.message
    assert doctor.check_loop_windows({}, workers=1)[0].level == doctor.OK
    assert doctor.check_loop_windows({"OTEL_LLM_LOOP_MODE": "off"}, workers=4) == []
    shared = {"OTEL_LLM_LOOP_REDIS_URL": "redis://redis:6379/0"}
    monkeypatch.setattr(doctor, "module_available", lambda name: name != "redis")
    (missing,) = doctor.check_loop_windows(shared, workers=4)
    assert missing.level == doctor.ERROR and "otel-llm[redis]" in missing.fix
    monkeypatch.setattr(doctor, "module_available", lambda name: True)
    assert doctor.check_loop_windows(shared, workers=4)[0].level == doctor.OK
