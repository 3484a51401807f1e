"""The walkthroughs line up with the stack: every endpoint the docs, examples and the demo name is
one the stack serves (a port compose publishes on the host, or a service's own port inside its
network), every file they name exists (or is a secrets file made from a committed example and
git-ignored), every setting they name exists, every service a `docker compose` command names exists.
Static: compose as `docker compose config` resolves it (tests/collector/compose.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_llm._settings import SETTINGS
from otel_llm.cli import DEFAULT_OTLP
from tests.collector.compose import resolved
from tests.collector.stack import COLLECTOR, REPO

DOCS = [
    REPO / "README.md",
    COLLECTOR / "README.md",
    *sorted((REPO / "examples").rglob("*.md")),
    *sorted((REPO / "docs").rglob("*.md")),
]
# Where endpoints are written down besides the docs: env examples, configs, the demo's default.
ENDPOINT_SOURCES = [
    *DOCS,
    *sorted((REPO / "examples").rglob("*.example")),
    *sorted((REPO / "examples").rglob("*.yaml")),
    COLLECTOR / ".env.example",
    COLLECTOR / "litellm.env.example",
    REPO / "src" / "otel_llm" / "cli" / "__init__.py",
]
# Ports each compose service listens on inside the `llm` network.
SERVICE_PORTS = {
    "litellm": {4000},
    "otel-collector": {4317, 4318, 8888, 8889, 13133},
    "prometheus": {9090},
    "alertmanager": {9093},
    "tempo": {3200, 4317, 4318},
    "grafana": {3000},
    "postgres": {5432},
    "redis": {6379},
}
# Ports on this host that are not compose's: what a user runs there themselves, each named.
HOST_PROCESSES = {
    9464: "the in-process Prometheus endpoint (OTEL_LLM_EXPORTER=prometheus, otel-llm demo)",
    5432: "the PostgreSQL examples/proxy has you run for LiteLLM's database",
    6379: "a Redis for OTEL_LLM_LOOP_REDIS_URL next to a proxy on the host",
}
# host:port, not an image tag (grafana/grafana:12.2.0, postgres:16.4-alpine).
URL = re.compile(
    r"(?<![/\w.-])(?:[a-z][a-z0-9+.-]*://)?(localhost|127\.0\.0\.1|[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*):(\d{2,5})(?![.\w-])"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return resolved(tmp_path_factory.mktemp("walkthrough"), "demo")


def _published(project: dict[str, Any]) -> set[int]:
    return {int(p["published"]) for s in project["services"].values() for p in s.get("ports", [])}


def _collector_defaults() -> set[int]:
    """The Collector's own ports when it runs on a host outside compose (otelcol.yaml's defaults)."""
    text = (COLLECTOR / "otelcol.yaml").read_text()
    return {int(port) for port in re.findall(r"\$\{env:\w+:-(?:127\.0\.0\.1:|)(\d{4,5})\}", text)}


def test_service_ports_are_the_services(project: dict[str, Any]) -> None:
    """The port table above matches compose: every long-running service, and what each health check probes."""
    assert set(SERVICE_PORTS) == set(project["services"]) - {"tempo-init", "demo"}
    for name, service in project["services"].items():
        for port in service.get("ports", []):
            assert port["target"] in SERVICE_PORTS[name], (name, port)


def _endpoints() -> list[tuple[Path, str, int]]:
    found = []
    for path in ENDPOINT_SOURCES:
        for host, port in URL.findall(path.read_text()):
            found.append((path, host, int(port)))
    return found


def _wrong(endpoints: list[tuple[Path, str, int]], local: set[int]) -> list[str]:
    wrong = []
    for path, host, port in endpoints:
        where = f"{path.relative_to(REPO)}: {host}:{port}"
        if host in ("localhost", "127.0.0.1"):
            if port not in local:
                wrong.append(f"{where} is not published by collector/docker-compose.yml")
        elif "." not in host:
            if host not in SERVICE_PORTS:
                wrong.append(f"{where}: no compose service is called {host}")
            elif port not in SERVICE_PORTS[host]:
                wrong.append(f"{where}: {host} does not listen on {port}")
    return wrong


def test_every_documented_endpoint_is_served_by_the_stack(project: dict[str, Any]) -> None:
    """localhost ports are published by compose (or the Collector's own defaults, or a process the
    reader runs, named); a service name is a compose service and the port one it listens on; no
    other bare host name (a `collector:4318` that nothing answers)."""
    local = _published(project) | _collector_defaults() | set(HOST_PROCESSES)
    endpoints = _endpoints()
    wrong = _wrong(endpoints, local)
    assert not wrong, "\n".join(wrong)
    hosts = {(host, port) for _, host, port in endpoints}
    assert {("localhost", 4318), ("otel-collector", 4318), ("127.0.0.1", 5432)} <= hosts
    assert len(endpoints) > 30
    # What the docs said before: a host nothing answers, a port compose did not publish.
    old = "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 litellm; curl localhost:9091/api/v1/alerts"
    found = [(REPO / "README.md", host, int(port)) for host, port in URL.findall(old)]
    assert len(_wrong(found, local)) == 2


def test_the_demo_and_the_examples_send_to_the_collector_compose_publishes(project: dict[str, Any]) -> None:
    """`otel-llm demo --otlp` and the examples' OTLP endpoint are the Collector's published OTLP/HTTP port."""
    ports = {p["target"]: p for p in project["services"]["otel-collector"]["ports"]}
    assert f"http://localhost:{ports[4318]['published']}" == DEFAULT_OTLP
    for env_file in (REPO / "examples").rglob(".env.example"):
        (endpoint,) = re.findall(r"^OTEL_EXPORTER_OTLP_ENDPOINT=(\S+)$", env_file.read_text(), re.M)
        assert endpoint == DEFAULT_OTLP, env_file


def _ignored(relative: str) -> bool:
    result = subprocess.run(["git", "check-ignore", "-q", relative], cwd=REPO, check=False, capture_output=True)
    return result.returncode == 0


def _mentioned_paths(path: Path) -> list[str]:
    text = path.read_text()
    paths = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if "://" not in target and not target.startswith("#"):
            local = (path.parent / target.split("#")[0]).resolve()
            paths.append(str(local.relative_to(REPO)) if local.is_relative_to(REPO) else str(local))
    roots = ("collector/", "examples/", "docs/", "scripts/", "src/", "tests/", "benchmarks/")
    for quoted in re.findall(r"`([^`\s]+)`", text):
        if quoted.startswith(roots) and not re.search(r"[<>*…{}$]|\.\.\.", quoted):
            paths.append(quoted.rstrip("/").split(":")[0])
    return paths


def test_every_file_the_docs_name_exists() -> None:
    """Links and repository paths in the docs exist, or are secrets files made from a committed
    `.example` and ignored by git."""
    missing = []
    for doc in DOCS:
        for relative in _mentioned_paths(doc):
            if (REPO / relative).exists():
                continue
            if (REPO / f"{relative}.example").exists() and _ignored(relative):
                continue
            if relative == "collector/secrets/deadmans-switch-url" and _ignored(relative):
                continue  # made by the reader, as collector/README.md's dead man's switch says
            missing.append(f"{doc.relative_to(REPO)}: {relative}")
    assert not missing, "\n".join(missing)


def _known_settings() -> set[str]:
    names = {setting.env for setting in SETTINGS}
    sources = [*COLLECTOR.rglob("*.yaml"), *COLLECTOR.rglob("*.yml"), *COLLECTOR.glob("*.sh")]
    sources += [*(REPO / "examples").rglob("*.py"), *COLLECTOR.rglob(".env.example")]
    sources += [*(REPO / "src").rglob("*.py")]
    for source in sources:
        names |= set(re.findall(r"\b(OTEL_LLM_[A-Z0-9_]+)\b", source.read_text()))
    return names


def test_every_setting_the_docs_name_exists() -> None:
    """Each OTEL_LLM_* name in the docs is a setting otel-llm, the Collector configs, compose or the examples read."""
    known = _known_settings()
    unknown = []
    for doc in DOCS:
        for name in set(re.findall(r"\b(OTEL_LLM_[A-Z0-9_]+[A-Z0-9])\b", doc.read_text())):
            if name not in known and not any(k.startswith(name + "_") for k in known):
                unknown.append(f"{doc.relative_to(REPO)}: {name}")
    assert not unknown, "\n".join(unknown)


def test_docker_compose_commands_name_real_services(project: dict[str, Any]) -> None:
    """`docker compose -f collector/docker-compose.yml <command> <service>` names a service of the
    file, and the file is always given (the commands run from the repository's root)."""
    services = set(project["services"])
    for doc in DOCS:
        blocks = "\n".join(re.findall(r"```sh\n(.*?)```", doc.read_text(), re.DOTALL))
        for command in re.findall(r"docker compose ([^\n;#]+)", blocks.replace("\\\n", " ")):
            assert command.startswith("-f collector/docker-compose.yml"), (doc.name, command)
            words = command.split()
            verb = next((w for w in words[2:] if not w.startswith("-") and w != "demo"), None)
            if verb in ("logs", "exec", "stop", "restart", "ps") and len(words) > words.index(verb) + 1:
                target = words[words.index(verb) + 1]
                assert target.startswith("-") or target in services, (doc.name, command)


def test_secrets_files_are_ignored_and_prerequisites_listed() -> None:
    """Every `cp X.example Y` in the docs makes a git-ignored Y; the walkthroughs list what they need."""
    copies = []
    for doc in DOCS:
        copies += re.findall(r"cp (\S+\.example) ([^\s;]+)", doc.read_text())
    assert len(copies) >= 5
    for example, real in copies:
        assert (REPO / example).is_file(), example
        assert _ignored(real), f"{real} (from {example}) is not git-ignored"
    for doc in (COLLECTOR / "README.md", REPO / "examples" / "proxy" / "README.md"):
        text = doc.read_text()
        assert "Compose v2" in text and "`jq`" in text and "`curl`" in text, doc


def test_the_proxy_examples_configs_load() -> None:
    """Both example configs are valid YAML with otel-llm's callback; the DB-less one uses the example's keys module."""
    for name in ("config.yaml", "config.no-db.yaml"):
        config = yaml.safe_load((REPO / "examples" / "proxy" / name).read_text())
        assert config["litellm_settings"]["callbacks"] == ["otel_llm.proxy.callback"]
    no_db = yaml.safe_load((REPO / "examples" / "proxy" / "config.no-db.yaml").read_text())
    module, _, function = no_db["general_settings"]["custom_auth"].rpartition(".")
    assert (REPO / "examples" / "proxy" / f"{module}.py").is_file() and function == "user_api_key_auth"
