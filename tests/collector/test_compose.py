"""collector/docker-compose.yml (Docker cannot run here): parsed, every image pinned, and every
reference consistent — between services, and with the Collector, Prometheus, Alertmanager, Tempo
and Grafana configs the services mount."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.collector.stack import COLLECTOR, REPO

COMPOSE = COLLECTOR / "docker-compose.yml"
SERVICES = {"litellm", "postgres", "otel-collector", "prometheus", "alertmanager", "tempo-init", "tempo", "grafana"}


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def _service(name: str) -> dict[str, Any]:
    return dict(_compose()["services"][name])


def _env(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in (_service(name).get("environment") or {}).items()}


def test_services() -> None:
    """The stack: proxy (+ its database), Collector, Prometheus, Alertmanager, Tempo, Grafana."""
    assert set(_compose()["services"]) == SERVICES


def test_every_image_is_pinned() -> None:
    """Images have an exact version tag (no `latest`, no bare major); the proxy is built from a pinned base."""
    for name, service in _compose()["services"].items():
        if "build" in service:
            continue  # built here, from a pinned base (below)
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and re.fullmatch(r"v?\d+\.\d+(\.\d+)?(-[a-z]+)?", tag), (name, image)
    build = _service("litellm")["build"]
    dockerfile = (COLLECTOR / build["context"] / build["dockerfile"]).resolve()
    assert dockerfile.is_file()
    (base,) = re.findall(r"^FROM (\S+)$", dockerfile.read_text(), re.MULTILINE)
    assert re.search(r":main-v\d+\.\d+\.\d+$", base), base


def test_the_collector_image_matches_the_ocb_build() -> None:
    """The contrib image runs the same Collector version the ocb manifest pins (same component behaviour)."""
    (version,) = re.findall(r"^# builder-version: v(\S+)$", (COLLECTOR / "builder-config.yaml").read_text(), re.M)
    assert _service("otel-collector")["image"] == f"otel/opentelemetry-collector-contrib:{version}"


def test_one_bridge_network_and_only_grafana_and_the_proxy_published() -> None:
    """All services share the one `llm` bridge network; only Grafana and the proxy publish ports, on localhost."""
    compose = _compose()
    assert compose["networks"] == {"llm": {"driver": "bridge"}}
    published = {}
    for name, service in compose["services"].items():
        assert service["networks"] == ["llm"], name
        if "ports" in service:
            published[name] = service["ports"]
    assert published == {"litellm": ["127.0.0.1:4000:4000"], "grafana": ["127.0.0.1:3000:3000"]}


def test_dependencies_volumes_and_secrets_exist() -> None:
    """depends_on names services; named volumes and secrets are declared; bind mounts exist in the repo."""
    compose = _compose()
    for name, service in compose["services"].items():
        assert set(service.get("depends_on", {})) <= set(compose["services"]) - {name}, name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COLLECTOR / source).exists(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], (name, secret)
    for secret in compose["secrets"].values():
        assert (COLLECTOR / f"{secret['file']}.example").is_file(), secret


def test_secrets_come_from_env_files_that_have_examples() -> None:
    """Every ${VAR} compose needs and every os.environ/ the proxy config reads has a committed example."""
    example = (COLLECTOR / ".env.example").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    assert required == {"POSTGRES_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD"}
    assert all(re.search(rf"^{var}=", example, re.M) for var in required)
    assert _service("litellm")["env_file"] == "litellm.env"
    proxy_env = (COLLECTOR / "litellm.env.example").read_text()
    proxy_config = (COLLECTOR / "proxy" / "config.yaml").read_text()
    for var in set(re.findall(r"os\.environ/(\w+)", proxy_config)) - {"DATABASE_URL"}:
        assert re.search(rf"^{var}=", proxy_env, re.M), var
    assert "DATABASE_URL" in _env("litellm")
    ignored = (COLLECTOR / ".gitignore").read_text().split()
    assert {".env", "litellm.env", "secrets/*"} <= set(ignored)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    assert parts.hostname and parts.port, url
    return parts.hostname, parts.port


def test_the_proxy_sends_otlp_to_the_collector() -> None:
    """The proxy exports OTLP/HTTP to the Collector's OTLP/HTTP port and loads otel-llm's callback."""
    host, port = _host_port(_env("litellm")["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert host == "otel-collector"
    assert _host_port(_env("otel-collector")["OTEL_LLM_COLLECTOR_OTLP_HTTP_ENDPOINT"])[1] == port
    config = yaml.safe_load((COLLECTOR / "proxy" / "config.yaml").read_text())
    assert config["litellm_settings"]["callbacks"] == ["otel_llm.proxy.callback"]
    dockerfile = (COLLECTOR / "proxy" / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE):
        for path in source.split():
            assert (REPO / path).exists(), path


def test_collector_endpoints_match_the_services_that_use_them() -> None:
    """Collector → Tempo's OTLP port; Prometheus scrapes the Collector's exporter and telemetry ports."""
    env = _env("otel-collector")
    for key in ("OTEL_LLM_COLLECTOR_OTLP_GRPC_ENDPOINT", "OTEL_LLM_COLLECTOR_OTLP_HTTP_ENDPOINT"):
        assert env[key].startswith("0.0.0.0:")  # inside the network; not published
    command = _service("otel-collector")["command"]
    assert command == ["--config=/etc/otelcol/otelcol.yaml"]
    assert "./otelcol.yaml:/etc/otelcol/otelcol.yaml:ro" in _service("otel-collector")["volumes"]
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


def test_prometheus_keeps_7_days_and_stores_exemplars() -> None:
    """Prometheus mounts the committed config and rules, keeps 7 days, and stores exemplars."""
    service = _service("prometheus")
    assert "--storage.tsdb.retention.time=7d" in service["command"]
    assert "--enable-feature=exemplar-storage" in service["command"]
    assert "./prometheus:/etc/prometheus:ro" in service["volumes"]


def test_alertmanager_reads_the_slack_secret_where_its_config_expects_it() -> None:
    """The `slack_webhook_url` secret is mounted at the path alertmanager.yml's api_url_file names."""
    assert _service("alertmanager")["secrets"] == ["slack_webhook_url"]
    config = yaml.safe_load((COLLECTOR / "alertmanager" / "alertmanager.yml").read_text())
    files = {c["api_url_file"] for r in config["receivers"] for c in r.get("slack_configs", [])}
    assert files == {"/run/secrets/slack_webhook_url"}
    assert "./alertmanager:/etc/alertmanager:ro" in _service("alertmanager")["volumes"]


def test_grafana_datasources_and_dashboards_point_at_the_stack() -> None:
    """Grafana's datasources reach the prometheus and tempo services; dashboards are mounted where provisioned."""
    datasources = yaml.safe_load((COLLECTOR / "grafana/provisioning/datasources/datasources.yml").read_text())
    urls = {d["type"]: _host_port(d["url"]) for d in datasources["datasources"]}
    tempo = yaml.safe_load((COLLECTOR / "tempo" / "tempo.yaml").read_text())
    assert urls == {"prometheus": ("prometheus", 9090), "tempo": ("tempo", tempo["server"]["http_listen_port"])}
    volumes = _service("grafana")["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    assert list(Path(COLLECTOR / "grafana" / "dashboards").glob("*.json"))
