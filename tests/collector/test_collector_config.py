"""collector/builder-config.yaml, build.sh and the Collector configs: pinned, minimal, valid."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.collector.stack import COLLECTOR, REPO, collector_binary

MANIFEST = COLLECTOR / "builder-config.yaml"
CONFIGS = [COLLECTOR / "otelcol.yaml", COLLECTOR / "gateway" / "agent.yaml", COLLECTOR / "gateway" / "gateway.yaml"]
KINDS = ("receivers", "processors", "exporters", "extensions", "connectors")
SEMVER = r"v\d+\.\d+\.\d+"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, env=env)


def _manifest() -> dict[str, Any]:
    return dict(yaml.safe_load(MANIFEST.read_text()))


def test_manifest_pins_the_builder_and_every_module() -> None:
    """Every module has an exact version; core and contrib components share the builder's version."""
    text = MANIFEST.read_text()
    (builder,) = re.findall(rf"^# builder-version: ({SEMVER})$", text, re.MULTILINE)
    manifest = _manifest()
    modules = [entry["gomod"] for kind in (*KINDS, "providers") for entry in manifest.get(kind, [])]
    assert modules
    for module in modules:
        assert re.fullmatch(rf"\S+ {SEMVER}", module), module
    components = [m for kind in KINDS for m in (e["gomod"] for e in manifest.get(kind, []))]
    assert {m.split()[1] for m in components} == {builder}
    assert manifest["dist"]["version"] == builder.removeprefix("v")
    providers = sorted(e["gomod"].split()[0].rsplit("/", 1)[1] for e in manifest["providers"])
    assert providers == ["envprovider", "fileprovider", "httpprovider", "httpsprovider", "yamlprovider"]
    assert len({e["gomod"].split()[1] for e in manifest["providers"]}) == 1


def _built_components() -> dict[str, set[str]]:
    output = yaml.safe_load(_run(str(collector_binary()), "components").stdout)
    return {kind: {c["name"] for c in output.get(kind) or []} for kind in KINDS}


def _used_components() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for path in CONFIGS:
        config = yaml.safe_load(path.read_text())
        for kind in KINDS:
            used[kind] |= {name.split("/")[0] for name in config.get(kind) or {}}
    return used


@pytest.mark.timeout(1200)  # builds the Collector when collector/setup.sh has not
def test_the_binary_has_exactly_the_components_the_configs_use() -> None:
    """The ocb manifest builds what the three configs configure, nothing more, by their current names."""
    assert _built_components() == _used_components()


def _pipeline_components(config: dict[str, Any]) -> set[str]:
    names = set(config["service"].get("extensions", []))
    for pipeline in config["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            names |= set(pipeline.get(kind, []))
    return names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(COLLECTOR)))
def test_every_configured_component_is_in_a_pipeline(path: Path) -> None:
    """No dead configuration: each component is used (the debug switch names `debug` or `nop`)."""
    config = yaml.safe_load(path.read_text())
    configured = {name for kind in ("receivers", "processors", "exporters", "extensions") for name in config[kind]}
    used = _pipeline_components(config)
    switch = "${env:OTEL_LLM_COLLECTOR_DEBUG_EXPORTER:-nop}"
    assert switch in used
    assert configured == (used - {switch}) | {"debug", "nop"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(COLLECTOR)))
@pytest.mark.parametrize("debug", ["nop", "debug"])
def test_otelcol_validate(path: Path, debug: str) -> None:
    """`otelcol validate` accepts every config, with the debug exporter switched off and on."""
    env = {**os.environ, "OTEL_LLM_COLLECTOR_DEBUG_EXPORTER": debug}
    result = _run(str(collector_binary()), "validate", "--config", str(path), env=env)
    assert result.returncode == 0, result.stderr


def test_otelcol_validate_rejects_a_broken_config(tmp_path: Path) -> None:
    """Validation can fail: an unknown processor in a pipeline is an error."""
    broken = tmp_path / "otelcol.yaml"
    text = (COLLECTOR / "otelcol.yaml").read_text()
    broken.write_text(text.replace("redaction/secrets, batch]", "redaction/secrets, batchh]"))
    result = _run(str(collector_binary()), "validate", "--config", str(broken))
    assert result.returncode != 0 and "batchh" in result.stderr


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(COLLECTOR)))
def test_pipelines_start_with_memory_limiter_and_end_with_batch(path: Path) -> None:
    """memory_limiter refuses data first; batch is last (after everything that drops or masks)."""
    for name, pipeline in yaml.safe_load(path.read_text())["service"]["pipelines"].items():
        assert pipeline["processors"][0] == "memory_limiter", name
        assert pipeline["processors"][-1] == "batch", name


def _endpoints(node: Any, path: str = "") -> list[tuple[str, Any]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            if key in ("endpoint", "host", "port", "hostname") and not isinstance(value, dict):
                found.append((where, value))
            found += _endpoints(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _endpoints(value, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(COLLECTOR)))
def test_every_address_comes_from_the_environment_and_defaults_to_localhost(path: Path) -> None:
    """Addresses are ${env:…}; defaults never listen beyond 127.0.0.1."""
    endpoints = _endpoints(yaml.safe_load(path.read_text()))
    assert endpoints
    for where, value in endpoints:
        assert str(value).startswith("${env:OTEL_LLM_"), (where, value)
    listening = (".receivers", ".extensions", ".exporters.prometheus.")
    servers = [v for w, v in endpoints if w.startswith(listening) or w.endswith(".host")]
    assert servers and all("127.0.0.1" in str(v) for v in servers), servers


def test_agent_cleans_data_like_the_single_collector() -> None:
    """The agent tier drops content and masks secrets with exactly collector/otelcol.yaml's processors."""
    single = yaml.safe_load((COLLECTOR / "otelcol.yaml").read_text())["processors"]
    agent = yaml.safe_load((COLLECTOR / "gateway" / "agent.yaml").read_text())["processors"]
    assert agent == single


def test_gateway_samples_by_trace_and_remote_writes() -> None:
    """Agents route traces by trace id and metrics by stream id; gateways tail-sample and remote-write."""
    agent = yaml.safe_load((COLLECTOR / "gateway" / "agent.yaml").read_text())
    gateway = yaml.safe_load((COLLECTOR / "gateway" / "gateway.yaml").read_text())
    assert agent["exporters"]["load_balancing/traces"]["routing_key"] == "traceID"
    assert agent["exporters"]["load_balancing/metrics"]["routing_key"] == "streamID"
    assert "tail_sampling" in gateway["service"]["pipelines"]["traces"]["processors"]
    policies = {p["name"] for p in gateway["processors"]["tail_sampling"]["policies"]}
    assert policies == {"errors", "fallbacks", "runaway-loops", "slow", "sample-the-rest"}
    assert gateway["service"]["pipelines"]["metrics"]["exporters"][0] == "prometheus_remote_write"


@pytest.mark.timeout(1200)
def test_build_caches_the_binary_outside_the_repository_by_manifest_hash(tmp_path: Path) -> None:
    """build.sh reuses the binary of an unchanged manifest at once; another manifest has another path."""
    binary = collector_binary()
    start = time.monotonic()
    again = _run(str(COLLECTOR / "build.sh"))
    assert time.monotonic() - start < 5
    assert again.returncode == 0 and Path(again.stdout.strip()) == binary and "cached" in again.stderr
    assert REPO not in binary.parents
    assert binary.name == f"otelcol-{hashlib.sha256(MANIFEST.read_bytes()).hexdigest()}"
    edited = tmp_path / "builder-config.yaml"
    edited.write_text(MANIFEST.read_text() + "# edited\n")
    other = _run(str(COLLECTOR / "build.sh"), "--path", env={**os.environ, "OTEL_LLM_BUILDER_CONFIG": str(edited)})
    assert other.returncode == 0 and Path(other.stdout.strip()).parent == binary.parent
    assert Path(other.stdout.strip()) != binary
