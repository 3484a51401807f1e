"""collector/docker-compose.yml, as `docker compose config` resolves it (compose-go, the Compose
Specification's schema: tests/collector/compose.py; Docker itself cannot run here): every image
pinned, every long-running service health-checked and waited for, and every reference consistent
— between services, and with the Collector, Prometheus, Alertmanager, Tempo and Grafana configs."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.collector.compose import COMPOSE, load, resolved, user_copy
from tests.collector.stack import COLLECTOR, REPO, tool

SERVICES = {"litellm", "postgres", "redis", "otel-collector", "prometheus", "alertmanager", "tempo-init", "tempo"}
SERVICES |= {"grafana"}
ONE_SHOT = {"tempo-init"}  # runs to completion before Tempo starts
JOBS = {"demo"}  # a traffic generator for a day; its health is its telemetry arriving
PUBLISHED = {
    "litellm": [4000],
    "otel-collector": [4317, 4318],
    "prometheus": [9090],
    "alertmanager": [9093],
    "grafana": [3000],
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return resolved(tmp_path_factory.mktemp("compose"), "demo")


def _service(project: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(project["services"][name])


def _env(project: dict[str, Any], name: str) -> dict[str, str]:
    return {k: str(v) for k, v in (_service(project, name).get("environment") or {}).items()}


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    assert parts.hostname and parts.port, url
    return parts.hostname, parts.port


def test_services(project: dict[str, Any]) -> None:
    """Proxy (+ database, Redis), Collector, Prometheus, Alertmanager, Tempo, Grafana; the demo as a profile."""
    assert set(project["services"]) == SERVICES | JOBS
    assert _service(project, "demo")["profiles"] == ["demo"]
    assert not [name for name in SERVICES if _service(project, name).get("profiles")]


def test_without_the_demo_profile_the_demo_does_not_run(tmp_path: Path) -> None:
    """`docker compose up` alone starts no demo traffic next to real traffic."""
    assert set(resolved(tmp_path)["services"]) == SERVICES


def test_the_loader_rejects_what_docker_compose_rejects(tmp_path: Path) -> None:
    """The checker is a real validator: a misspelt key fails the schema, a missing env file and an
    unset required variable fail too, each named."""
    broken = COMPOSE.read_text().replace("      start_period: 120s", "      start_perod: 120s")
    result = load(user_copy(tmp_path / "schema", broken))
    assert result.returncode == 1 and "start_perod" in result.stderr
    compose = user_copy(tmp_path / "no-env")
    (compose.parent / "litellm.env").unlink()
    assert "litellm.env" in load(compose).stderr
    compose = user_copy(tmp_path / "no-password")
    (compose.parent / ".env").write_text("GF_SECURITY_ADMIN_PASSWORD=x\n")
    assert "set POSTGRES_PASSWORD in collector/.env" in load(compose).stderr


def _dockerfiles(project: dict[str, Any]) -> dict[str, Path]:
    files = {}
    for name, service in project["services"].items():
        if "build" in service:
            build = service["build"]
            files[name] = (COLLECTOR / build["context"] / build["dockerfile"]).resolve()
    return files


def test_every_image_is_pinned(project: dict[str, Any]) -> None:
    """Images, and every base image of the images built here, have an exact version tag (no `latest`)."""
    for name, service in project["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and re.fullmatch(r"v?\d+\.\d+(\.\d+)?(-[a-z]+)?|local", tag), (name, image)
    for name, dockerfile in _dockerfiles(project).items():
        for base in re.findall(r"^FROM (\S+)", dockerfile.read_text(), re.MULTILINE):
            assert re.search(r":(main-)?v?\d+\.\d+\.\d+(-[a-z]+)?$", base), (name, base)


def _version(program: str) -> str:
    output = subprocess.run([tool(program), "--version"], capture_output=True, text=True, timeout=30, check=False)
    (version,) = re.findall(r"version (\d+\.\d+\.\d+)", output.stdout + output.stderr)[:1]
    return str(version)


def test_prometheus_and_alertmanager_run_the_versions_the_tests_use(project: dict[str, Any]) -> None:
    """Compose runs the Prometheus and Alertmanager whose promtool/amtool test the rules and routes here
    (and the end-to-end test runs as servers): collector/setup.sh installs those versions."""
    assert _service(project, "prometheus")["image"] == f"prom/prometheus:v{_version('promtool')}"
    assert _version("prometheus") == _version("promtool")
    assert _service(project, "alertmanager")["image"] == f"prom/alertmanager:v{_version('amtool')}"
    assert _version("prometheus-alertmanager") == _version("amtool")
    setup = (COLLECTOR / "setup.sh").read_text()
    assert f"prometheus_version={_version('promtool')}" in setup
    assert f"alertmanager_version={_version('amtool')}" in setup


def test_the_collector_is_the_ocb_build(project: dict[str, Any]) -> None:
    """Compose builds the Collector from the ocb manifest with its pinned builder, as build.sh does for the tests."""
    service = _service(project, "otel-collector")
    dockerfile = _dockerfiles(project)["otel-collector"].read_text()
    assert service["build"]["context"] == "." and "COPY builder-config.yaml ." in dockerfile
    assert "^# builder-version:" in dockerfile and "go.opentelemetry.io/collector/cmd/builder@" in dockerfile
    (version,) = re.findall(r"^# builder-version: v(\S+)$", (COLLECTOR / "builder-config.yaml").read_text(), re.M)
    assert service["image"] == f"otel-llm/otelcol-llm:{version}"
    name = yaml.safe_load((COLLECTOR / "builder-config.yaml").read_text())["dist"]["name"]
    assert f"/usr/local/bin/{name}" in dockerfile


def _admitted(dockerignore: Path, path: str) -> bool:
    """Whether the build context keeps ``path`` (Docker's rules: the last matching pattern wins)."""
    keep = True
    for line in dockerignore.read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.removeprefix("**/")) for p in prefixes):
            keep = negate
    return keep


def test_build_contexts_send_only_what_the_dockerfiles_copy(project: dict[str, Any]) -> None:
    """.dockerignore files admit every COPY source, and keep .git, .venv and every secrets file out."""
    for name, dockerfile in _dockerfiles(project).items():
        build = _service(project, name)["build"]
        context = (COLLECTOR / build["context"]).resolve()
        ignore = context / ".dockerignore"
        assert ignore.is_file(), name
        for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile.read_text(), re.MULTILINE):
            for path in source.split():
                assert (context / path).exists() and _admitted(ignore, path), (name, path)
        private = [".git", ".venv/bin/python", "collector/.env", "collector/litellm.env", "examples/proxy/.env"]
        private += ["collector/secrets/slack-webhook-url", ".env", "litellm.env", "secrets/slack-webhook-url"]
        assert not [p for p in private if _admitted(ignore, p)], name


def test_published_on_localhost_only(project: dict[str, Any]) -> None:
    """The proxy, the Collector's OTLP receivers, Grafana, Prometheus and Alertmanager are published, on 127.0.0.1."""
    published = {}
    for name, service in project["services"].items():
        assert set(service["networks"]) == {"llm"}, name
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1" and port["published"] == str(port["target"]), (name, port)
            published.setdefault(name, []).append(port["target"])
    assert published == PUBLISHED
    assert project["networks"]["llm"]["driver"] == "bridge"


def _probe_port(healthcheck: dict[str, Any]) -> int | None:
    urls = [arg for arg in healthcheck["test"] if "http://" in arg]
    if not urls:
        return None
    (url,) = re.findall(r"http://[^'\" ]+", urls[0])
    return _host_port(url)[1]


def test_every_long_running_service_is_health_checked_and_waited_for(project: dict[str, Any]) -> None:
    """Each service that keeps running has a health check (on the port it serves), and whatever
    depends on it waits until it is healthy (one-shot services: until they exited 0)."""
    services = project["services"]
    listening = {
        "litellm": 4000,
        "otel-collector": _host_port(_env(project, "otel-collector")["OTEL_LLM_COLLECTOR_HEALTH_ENDPOINT"])[1],
        "prometheus": 9090,
        "alertmanager": 9093,
        "tempo": yaml.safe_load((COLLECTOR / "tempo" / "tempo.yaml").read_text())["server"]["http_listen_port"],
        "grafana": 3000,
    }
    for name, service in services.items():
        if name in ONE_SHOT | JOBS:
            assert service.get("restart") in (None, "no"), name
            continue
        assert service["restart"] == "unless-stopped", name
        check = service.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL") and check["interval"] and check["retries"], name
        assert _probe_port(check) == listening.get(name), name
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert how["condition"] == expected, (name, dependency)


def test_workers_share_redis(project: dict[str, Any]) -> None:
    """The proxy runs several workers, so loop windows (otel-llm) and LiteLLM's rpm/tpm counters live in Redis."""
    (cmd,) = re.findall(r"^CMD (.+)$", (COLLECTOR / "proxy" / "Dockerfile").read_text(), re.MULTILINE)
    args = yaml.safe_load(cmd)
    assert int(args[args.index("--num_workers") + 1]) > 1
    env = _env(project, "litellm")
    assert _host_port(env["OTEL_LLM_LOOP_REDIS_URL"]) == ("redis", 6379)
    assert (env["REDIS_HOST"], env["REDIS_PORT"]) == ("redis", "6379")
    config = yaml.safe_load((COLLECTOR / "proxy" / "config.yaml").read_text())
    host_and_port = {"os.environ/REDIS_HOST", "os.environ/REDIS_PORT"}
    assert {config["router_settings"]["redis_host"], config["router_settings"]["redis_port"]} == host_and_port
    assert set(config["general_settings"]["coordination_redis"].values()) == host_and_port
    assert "[proxy,redis]" in (COLLECTOR / "proxy" / "Dockerfile").read_text()


def test_links_in_alerts_open_the_published_urls(project: dict[str, Any]) -> None:
    """Prometheus and Alertmanager know the URL users reach them by (Slack's links), Grafana its root
    URL, and the Slack template's Grafana URL is the one compose publishes by default."""
    for name, port in (("prometheus", 9090), ("alertmanager", 9093)):
        command = _service(project, name)["command"]
        assert f"--web.external-url=http://localhost:{port}" in command and "--web.route-prefix=/" in command
    assert _env(project, "grafana")["GF_SERVER_ROOT_URL"] == "http://localhost:3000"
    template = (COLLECTOR / "alertmanager" / "templates" / "otel-llm.tmpl").read_text()
    assert re.search(r'define "otel_llm.grafana_url" -\}\}http://localhost:3000\{\{', template)
    raw = COMPOSE.read_text()
    for variable in ("PROMETHEUS_URL", "ALERTMANAGER_URL", "GRAFANA_URL"):
        assert f"${{{variable}:-http://localhost:" in raw and variable in (COLLECTOR / ".env.example").read_text()


def test_every_collector_setting_is_passed_through(project: dict[str, Any]) -> None:
    """Each ${env:...} otelcol.yaml reads is set for the Collector; the switches come from .env with
    otelcol.yaml's own defaults, and collector/README.md's table lists exactly these."""
    config = (COLLECTOR / "otelcol.yaml").read_text()
    used = dict(re.findall(r"\$\{env:(\w+):-([^}]*)\}", config))
    assert set(used) == set(_env(project, "otel-collector")) - {"GOMEMLIMIT"}
    raw = yaml.safe_load(COMPOSE.read_text())["services"]["otel-collector"]["environment"]
    for name in ("DEBUG_EXPORTER", "DEBUG_VERBOSITY", "KEEP_CONTENT", "LOG_LEVEL"):
        variable = f"OTEL_LLM_COLLECTOR_{name}"
        assert raw[variable] == f"${{{variable}:-{used[variable]}}}", variable
        assert f"# {variable}=" in (COLLECTOR / ".env.example").read_text(), variable
    readme = (COLLECTOR / "README.md").read_text()
    documented = set(re.findall(r"^\| `(OTEL_LLM_\w+)`", readme, re.MULTILINE))
    if "`OTEL_LLM_COLLECTOR_TELEMETRY_HOST` / `_PORT`" in readme:
        documented.add("OTEL_LLM_COLLECTOR_TELEMETRY_PORT")
    assert documented == set(used)


def test_secrets_come_from_env_files_that_have_examples(project: dict[str, Any]) -> None:
    """Every ${VAR:?} compose needs and every os.environ/ the proxy config reads has a committed example;
    the real files are git-ignored."""
    example = (COLLECTOR / ".env.example").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    assert required == {"POSTGRES_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD"}
    assert all(re.search(rf"^{var}=", example, re.M) for var in required)
    proxy_env = (COLLECTOR / "litellm.env.example").read_text()
    proxy_config = (COLLECTOR / "proxy" / "config.yaml").read_text()
    set_by_compose = set(_env(project, "litellm"))
    for var in set(re.findall(r"os\.environ/(\w+)", proxy_config)) - set_by_compose:
        assert re.search(rf"^{var}=", proxy_env, re.M), var
    ignored = (COLLECTOR / ".gitignore").read_text().split()
    assert {".env", "litellm.env", "secrets/*"} <= set(ignored)
    for name, service in project["services"].items():
        for secret in service.get("secrets", []):
            assert secret["source"] in project["secrets"], (name, secret)
    for secret in yaml.safe_load(COMPOSE.read_text())["secrets"].values():
        assert (COLLECTOR / f"{secret['file']}.example").is_file(), secret


def test_the_proxy_and_the_demo_send_otlp_to_the_collector(project: dict[str, Any]) -> None:
    """Both send OTLP/HTTP to the Collector's OTLP/HTTP port; the proxy loads otel-llm's callback."""
    port = _host_port(_env(project, "otel-collector")["OTEL_LLM_COLLECTOR_OTLP_HTTP_ENDPOINT"])[1]
    assert _host_port(_env(project, "litellm")["OTEL_EXPORTER_OTLP_ENDPOINT"]) == ("otel-collector", port)
    demo = _service(project, "demo")
    command = demo["command"]
    assert demo["entrypoint"] == ["otel-llm"] and command[:2] == ["demo", "--otlp"]
    assert _host_port(command[2]) == ("otel-collector", port)
    proxy = _service(project, "litellm")
    assert demo["image"] == proxy["image"] and demo["build"] == proxy["build"]
    for name in ("litellm", "demo"):
        assert _env(project, name)["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    config = yaml.safe_load((COLLECTOR / "proxy" / "config.yaml").read_text())
    assert config["litellm_settings"]["callbacks"] == ["otel_llm.proxy.callback"]


def test_collector_endpoints_match_the_services_that_use_them(project: dict[str, Any]) -> None:
    """Collector → Tempo's OTLP port; Prometheus scrapes the Collector's exporter and telemetry ports."""
    env = _env(project, "otel-collector")
    tempo_host, tempo_port = _host_port(env["OTEL_LLM_TEMPO_ENDPOINT"])
    tempo = yaml.safe_load((COLLECTOR / "tempo" / "tempo.yaml").read_text())
    assert tempo_host == "tempo"
    assert _host_port(tempo["distributor"]["receivers"]["otlp"]["protocols"]["http"]["endpoint"])[1] == tempo_port
    prometheus = yaml.safe_load((COLLECTOR / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in prometheus["scrape_configs"]}
    assert targets == {
        "otel-collector": f"otel-collector:{_host_port(env['OTEL_LLM_COLLECTOR_PROMETHEUS_ENDPOINT'])[1]}",
        "otel-collector-internal": f"otel-collector:{env['OTEL_LLM_COLLECTOR_TELEMETRY_PORT']}",
        "prometheus": "localhost:9090",  # itself
        "alertmanager": "alertmanager:9093",
    }
    (manager,) = prometheus["alerting"]["alertmanagers"]
    assert manager["static_configs"][0]["targets"] == ["alertmanager:9093"]


def _mounts(project: dict[str, Any], name: str) -> set[tuple[str, str]]:
    return {(v["source"], v["target"]) for v in _service(project, name).get("volumes", [])}


def test_mounts_exist_and_land_where_each_program_reads(project: dict[str, Any]) -> None:
    """Bind mounts exist in the repository; configs land where the commands and provisioning read them."""
    for name in project["services"]:
        for source, _ in _mounts(project, name):
            if source.startswith("."):
                assert (COLLECTOR / source).exists(), (name, source)
            else:
                assert source in project["volumes"], (name, source)
    assert ("./otelcol.yaml", "/etc/otelcol/otelcol.yaml") in _mounts(project, "otel-collector")
    assert ("./prometheus", "/etc/prometheus") in _mounts(project, "prometheus")
    assert "--config.file=/etc/prometheus/prometheus.yml" in _service(project, "prometheus")["command"]
    assert "--storage.tsdb.retention.time=7d" in _service(project, "prometheus")["command"]
    assert "--enable-feature=exemplar-storage" in _service(project, "prometheus")["command"]
    assert ("./alertmanager", "/etc/alertmanager") in _mounts(project, "alertmanager")
    assert [s["source"] for s in _service(project, "alertmanager")["secrets"]] == ["slack_webhook_url"]
    config = yaml.safe_load((COLLECTOR / "alertmanager" / "alertmanager.yml").read_text())
    files = {c["api_url_file"] for r in config["receivers"] for c in r.get("slack_configs", [])}
    assert files == {"/run/secrets/slack_webhook_url"}
    assert ("./grafana/provisioning", "/etc/grafana/provisioning") in _mounts(project, "grafana")
    assert ("./grafana/dashboards", "/var/lib/grafana/dashboards") in _mounts(project, "grafana")


def test_grafana_datasources_point_at_the_stack() -> None:
    """Grafana's datasources reach the prometheus and tempo services."""
    datasources = yaml.safe_load((COLLECTOR / "grafana/provisioning/datasources/datasources.yml").read_text())
    urls = {d["type"]: _host_port(d["url"]) for d in datasources["datasources"]}
    tempo = yaml.safe_load((COLLECTOR / "tempo" / "tempo.yaml").read_text())
    assert urls == {"prometheus": ("prometheus", 9090), "tempo": ("tempo", tempo["server"]["http_listen_port"])}
    assert list(Path(COLLECTOR / "grafana" / "dashboards").glob("*.json"))
    assert REPO.joinpath(".dockerignore").is_file()
