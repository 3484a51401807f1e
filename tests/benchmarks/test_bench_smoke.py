"""A few-seconds run of every benchmark, so benchmarks/ cannot rot (speed is never asserted).

Runs ``benchmarks/run.py --smoke --no-setup`` with this interpreter (the test environment):
the peers (OpenLLMetry, OpenInference, OpenLIT) are not installed here and are skipped; the
full comparison with them runs from benchmarks/.venv (``python benchmarks/run.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_CONFIGS = {"uninstrumented", "floor", "otel-llm-callback", "otel-llm-instrumentor", "litellm-otel"}


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_benchmark_smoke_run_produces_every_table(tmp_path: Path) -> None:
    """The smoke run measures every section and writes the Markdown table and raw JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--no-setup", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    markdown = (tmp_path / "latest.md").read_text()
    assert markdown == done.stdout
    headings = ("## Targets", "## 1. Per-call overhead", "## 2. Floor microbenchmark", "## 3. LiteLLM proxy")
    for heading in (*headings, "## 3b. LiteLLM proxy, streamed responses (10 chunks)"):
        assert heading in markdown

    sdk = results["sdk"]
    measured = {(s["config"], s["path"], s["scenario"]) for s in sdk["samples"]}
    configs = {config for config, _, _ in measured}
    assert configs >= EXPECTED_CONFIGS
    for config in configs:
        for path in ("mock", "http"):
            for scenario in ("sync", "async", "stream", "embedding", "router_fallback"):
                assert (config, path, scenario) in measured
    assert all(s["drained"] and s["cpu_s"] > 0 and s["p50_ns"] > 0 for s in sdk["samples"])
    # Each otel-llm configuration wrote one span per attempt (two for a fallback: failed + served).
    for config in ("otel-llm-callback", "floor"):
        assert sdk["describe"][config]["mock/sync"]["spans_per_call"] == 1.0
        assert sdk["describe"][config]["http/router_fallback"]["spans_per_call"] >= 2.0

    for payload in ("sdk_payload", "proxy_payload"):
        assert results["micro"][payload]["otel_llm"]["us_median"] > 0
    encoding = results["micro"]["span_encoding"]
    assert encoding["identical_bytes"] and encoding["spans_per_batch"] == 64
    assert encoding["sdk_us_per_span"] > 0 and encoding["wire_us_per_span"] > 0

    for card in results["cardinality"].values():
        assert card["within_cap"]
        assert card["distinct_max_per_attribute"] <= card["limit"] + 1

    churn = results["churn"]
    assert churn["keys_seen"] > churn["active"] and churn["spans_exported"] == churn["calls"]
    # Keys that went idle stopped being exported: fewer per-key series than keys ever seen.
    assert 0 < churn["spend_series_steady_max"] < churn["keys_seen"]
    assert "## 4b. Keys that come and go" in markdown

    proxies = results["proxy"]["proxies"]
    assert set(proxies) == {"none", "otel-llm", "otel-llm-process", "otel-llm-unreachable", "floor"}
    for name, proxy in proxies.items():
        assert proxy["errors"] == 0, name
        assert proxy["rps_median"] > 0, name
    assert proxies["otel-llm"]["telemetry"]["spans_ended"] > 0
    # With the emitter process: its attempt spans count beside the worker's SERVER spans (it is in the
    # proxy's process tree), so more spans than requests.
    assert proxies["otel-llm-process"]["telemetry"]["spans_ended"] > proxies["otel-llm-process"]["requests"]
    assert proxies["otel-llm-unreachable"]["telemetry"]["spans_exported"] == 0
    assert proxies["floor"]["telemetry"]["spans_ended"] > 0  # the floor's callback loaded and wrote its span

    streamed = results["proxy_stream"]
    assert streamed["stream_chunks"] == 10
    assert set(streamed["proxies"]) == {"none", "otel-llm"}
    for name, proxy in streamed["proxies"].items():
        assert proxy["errors"] == 0, name  # every answer arrived in its 10 chunks
        assert proxy["rps_median"] > 0, name
    assert streamed["proxies"]["otel-llm"]["telemetry"]["spans_ended"] > 0
