"""`otel-llm demo`: the report matches what the fake provider served; metrics are live while it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_for
from tests.proxy.harness import free_port

CLI = str(Path(sys.executable).parent / "otel-llm")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {
        "OTEL_LLM_RAISE_INTERNAL_ERRORS": "true"
    }


@pytest.mark.e2e
def test_demo_report_matches_the_provider(tmp_path: Path) -> None:
    """A fixed-seed run: successful calls, tokens per type and errors agree with the fake provider; /metrics served."""
    port = free_port()
    report_path = tmp_path / "report.json"
    process = subprocess.Popen(
        [
            CLI,
            "demo",
            "--duration",
            "4",
            "--rate",
            "20",
            "--seed",
            "7",
            "--prometheus-port",
            str(port),
            "--report-json",
            str(report_path),
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def scrape() -> str:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
        except httpx.HTTPError:
            return ""
        return text if "gen_ai_client_operation_duration_seconds_count" in text else ""

    metrics = wait_for(scrape, timeout=30, interval=0.2, message="live metrics while the demo runs")
    assert process.poll() is None, "metrics must be served while the demo runs"
    assert "otel_llm_key_alias=" in metrics and "otel_llm_team_alias=" in metrics
    stdout, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, stderr[-3000:]
    assert "otel-llm: internal error" not in stderr
    report = json.loads(report_path.read_text())
    totals, served = report["totals"], report["provider_served"]
    assert totals["calls"] - totals["errors"] == served["requests"] > 20
    assert totals["prompt_tokens"] == served["prompt_tokens"]
    assert totals["completion_tokens"] == served["completion_tokens"]
    # The OpenAI client retries some errors itself, invisibly to LiteLLM: never more errors than injected.
    assert 0 < totals["errors"] <= served["errors"]
    assert totals["fallbacks"] >= 1 and totals["spend_usd"] > 0
    keys = {row["key"] for row in report["rows"]}
    assert keys == {"support-bot", "research-agent", "summarizer", "runaway-agent"}
    loops = {row["key"]: row["loop_detections"] for row in report["rows"] if row["loop_detections"]}
    assert loops == {"runaway-agent": 1}
    assert any(row["p95_ttft_s"] for row in report["rows"] if row["key"] == "support-bot")
    assert "otel-llm demo report" in stdout and f"served {served['requests']} requests" in stdout


@pytest.mark.e2e
def test_ctrl_c_stops_cleanly_and_still_reports(tmp_path: Path) -> None:
    """SIGINT in the middle of a long run: calls in flight finish, a clean exit, a complete report."""
    report_path = tmp_path / "report.json"
    process = subprocess.Popen(
        [CLI, "demo", "--duration", "120", "--rate", "20", "--prometheus-port", "0", "--report-json", str(report_path)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("Fake provider at"):
            break
    started = time.monotonic()
    wait_for(lambda: time.monotonic() - started > 2, timeout=5)  # let some traffic flow
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-3000:]
    assert "otel-llm demo report" in stdout and "stopped by Ctrl-C" in stdout
    assert "Traceback" not in stderr
    # Nothing was cut off mid-call: every request the provider served is in the report.
    report = json.loads(report_path.read_text())
    totals, served = report["totals"], report["provider_served"]
    assert totals["calls"] - totals["errors"] == served["requests"] > 0
    assert totals["prompt_tokens"] == served["prompt_tokens"]


def _reports(command: list[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a demo command to its end: it exits 0 and prints the report."""
    result = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "otel-llm demo report" in result.stdout
    return result


@pytest.mark.e2e
def test_unreachable_collector_reports_first_and_does_not_hang() -> None:
    """--otlp to a closed port: the report comes out before the (failing) export, and each export
    gives up after a few seconds instead of the exporter's default retries (48 s here before)."""
    closed = f"http://127.0.0.1:{free_port()}"
    result = _reports([CLI, "demo", "--duration", "1", "--rate", "10", "--otlp", closed], timeout=30)
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--rate", "0"], "'0' must be greater than 0"),
        (["demo", "--duration", "soon"], "'soon' is not a number"),
        (["doctor", "--workers", "many"], "'many' is not a number"),
        (["doctor", "--workers", "0"], "'0' must be greater than 0"),
    ],
)
def test_bad_arguments_say_what_is_wrong(args: list[str], message: str) -> None:
    """Bad flags give one line naming the problem and exit 2."""
    result = subprocess.run([CLI, *args], env=_env(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.e2e
def test_readme_demo_command_runs() -> None:
    """`./scripts/demo` (the README's first command, on its first screen) sets up and runs the demo."""
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text().splitlines()
    commands = [line for line in readme if line.startswith(("./", "pip ", "litellm ", "otel-llm "))]
    assert commands[0].startswith("./scripts/demo") and readme.index(commands[0]) < 25
    _reports(["./scripts/demo", "--duration", "2", "--rate", "10", "--prometheus-port", "0"], timeout=600, cwd=root)


def test_missing_otlp_exporter_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--otlp without the OTLP exporter installed: one line naming the extra, exit 2 (like the Prometheus case)."""
    from otel_llm import cli

    monkeypatch.setenv("OTEL_LLM_KEY_HASH_SALT", "test")
    monkeypatch.setattr(cli, "module_available", lambda name: not name.startswith("opentelemetry.exporter.otlp"))
    assert cli.main(["demo", "--otlp", "http://127.0.0.1:4318"]) == 2
    assert "pip install 'otel-llm[otlp]'" in capsys.readouterr().err
    monkeypatch.setattr(cli, "module_available", lambda name: name != "opentelemetry.exporter.prometheus")
    assert cli.main(["demo"]) == 2
    assert "pip install 'otel-llm[prometheus]'" in capsys.readouterr().err


def test_otlp_alone_sends_to_the_stack_s_collector() -> None:
    """`--otlp` with no endpoint sends to the Collector collector/docker-compose.yml publishes on this host."""
    import yaml

    from otel_llm import cli

    assert cli.parser().parse_args(["demo", "--otlp"]).otlp == "http://localhost:4318"
    assert cli.parser().parse_args(["demo"]).otlp is None
    compose = Path(__file__).resolve().parents[2] / "collector" / "docker-compose.yml"
    ports = yaml.safe_load(compose.read_text())["services"]["otel-collector"]["ports"]
    assert "127.0.0.1:4318:4318" in ports


def test_agents_report_their_budgets_as_the_proxy_would() -> None:
    """Each agent's calls carry its key's and team's budget and spend so far (the budget panels and alerts),
    and its name as the agent (the agent panels)."""
    from otel_llm.cli import demo

    traffic = demo.Traffic(router=None, duration_s=1, rate=1, seed=1)
    runaway = next(a for a in demo.AGENTS if a.loops)
    traffic.spend[runaway.name] = 0.04
    metadata = traffic.metadata(runaway)
    assert metadata["user_api_key_max_budget"] == runaway.budget and metadata["user_api_key_spend"] == 0.04
    assert metadata["user_api_key_team_max_budget"] == demo.TEAM_BUDGETS[runaway.team]
    assert metadata["user_api_key_team_spend"] == 0.04
    assert metadata["user_api_key_alias"] == runaway.name
    assert metadata["agent_id"] == runaway.name  # the agent panels (gen_ai.agent.id)
