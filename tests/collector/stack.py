"""The collector/ stack as local processes on 127.0.0.1, for the tests.

The ocb-built Collector (collector/build.sh), Debian's Prometheus and Alertmanager started with
the committed configs (intervals shortened, targets and secrets pointed at temporary files), and a
local HTTP endpoint standing in for Slack. Tempo's stand-in is tests/otlp_receiver.OtlpReceiver.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import wait_for
from tests.proxy.harness import free_port

REPO = Path(__file__).resolve().parents[2]
COLLECTOR = REPO / "collector"
# Where the end-to-end stack's Alertmanager sends the Watchdog (the dead man's switch).
DEADMANS_SWITCH_PATH = "/deadmans-switch/ping"
SETUP_HINT = "run collector/setup.sh (installs Prometheus, Alertmanager and builds the Collector)"


def wait_until(condition: Callable[[], Any], timeout: float, message: str, interval: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    return wait_for(condition, timeout, interval, message)


def wait_for_nothing_missing(missing: Callable[[], list[str]], timeout: float, interval: float = 1.0) -> list[str]:
    """Poll ``missing`` until it returns an empty list or ``timeout`` passes; return its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        left = missing()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(interval)


def tool(name: str) -> str:
    """The path of a program the stack needs, or a failure that says how to install it."""
    path = shutil.which(name)
    assert path, f"{name} is not installed: {SETUP_HINT}"
    return path


_binary: Path | None = None


def collector_binary() -> Path:
    """The Collector built from collector/builder-config.yaml (cached by build.sh)."""
    global _binary  # one build per test session
    if _binary is None:
        result = subprocess.run(
            [str(COLLECTOR / "build.sh")], capture_output=True, text=True, timeout=1200, check=False
        )
        assert result.returncode == 0, f"collector/build.sh failed ({SETUP_HINT}):\n{result.stderr[-3000:]}"
        _binary = Path(result.stdout.strip().splitlines()[-1])
    return _binary


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class Process:
    """A subprocess with its output in a log file; stop() ends it (SIGTERM, then SIGKILL)."""

    name = "process"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def ready_url(self) -> str:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> Process:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), env=self.environment(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
            )

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            return _ok(self.ready_url())

        wait_until(ready, timeout, f"{self.name} ready at {self.ready_url()}:\n{self.log()[-2000:]}")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


class Collector(Process):
    """collector/otelcol.yaml (or another config) on free ports, exporting traces to ``tempo``."""

    name = "otelcol"

    def __init__(self, workdir: Path, tempo: str, configs: list[Path] | None = None, **env: str) -> None:
        super().__init__(workdir)
        self.configs = configs or [COLLECTOR / "otelcol.yaml"]
        self.ports = {k: free_port() for k in ("grpc", "http", "prometheus", "telemetry", "health")}
        self.env = {
            "OTEL_LLM_COLLECTOR_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.ports['grpc']}",
            "OTEL_LLM_COLLECTOR_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.ports['http']}",
            "OTEL_LLM_COLLECTOR_PROMETHEUS_ENDPOINT": f"127.0.0.1:{self.ports['prometheus']}",
            "OTEL_LLM_COLLECTOR_TELEMETRY_HOST": "127.0.0.1",
            "OTEL_LLM_COLLECTOR_TELEMETRY_PORT": str(self.ports["telemetry"]),
            "OTEL_LLM_COLLECTOR_HEALTH_ENDPOINT": f"127.0.0.1:{self.ports['health']}",
            "OTEL_LLM_TEMPO_ENDPOINT": tempo,
            **env,
        }

    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def command(self) -> list[str]:
        args = [str(collector_binary())]
        for config in self.configs:
            args += ["--config", str(config)]
        return args

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['health']}/"


class Prometheus(Process):
    """Debian's prometheus with collector/prometheus/prometheus.yml, scraping ``collector`` every second."""

    name = "prometheus"

    def __init__(self, workdir: Path, collector: Collector | None, alertmanager_port: int | None = None) -> None:
        """Scrape ``collector``; without one, Prometheus only receives remote writes."""
        super().__init__(workdir)
        self.port = free_port()
        config = yaml.safe_load((COLLECTOR / "prometheus" / "prometheus.yml").read_text())
        config["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s"})
        config["rule_files"] = [str(COLLECTOR / "prometheus" / f) for f in config["rule_files"]]
        if collector is None:
            config["scrape_configs"] = []
        else:
            targets = {
                "otel-collector": f"127.0.0.1:{collector.ports['prometheus']}",
                "otel-collector-internal": f"127.0.0.1:{collector.ports['telemetry']}",
                "prometheus": f"127.0.0.1:{self.port}",
                "alertmanager": f"127.0.0.1:{alertmanager_port}" if alertmanager_port else None,
            }
            config["scrape_configs"] = [job for job in config["scrape_configs"] if targets[job["job_name"]]]
            for job in config["scrape_configs"]:
                job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        (manager,) = config["alerting"]["alertmanagers"]
        if alertmanager_port is None:
            del config["alerting"]
        else:
            manager["static_configs"] = [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            tool("prometheus"),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--web.external-url={self.url}",  # as compose sets it: alert links open this URL
            "--enable-feature=exemplar-storage",
            "--web.enable-remote-write-receiver",
            # The first notification goes out before the notifier has found its Alertmanager; it
            # is resent after this delay (default 1m).
            "--rules.alert.resend-delay=1s",
        ]

    def ready_url(self) -> str:
        return f"{self.url}/-/ready"

    def api(self, name: str, **params: Any) -> Any:
        """GET /api/v1/<name> and return its data; fails on an API error."""
        body = httpx.get(f"{self.url}/api/v1/{name}", params=params, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result (a vector); fails on a PromQL error."""
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert body["status"] == "success", f"{expr}: {body}"
        result = body["data"]["result"]
        return result if isinstance(result, list) else [{"metric": {}, "value": result}]

    def series_names(self) -> set[str]:
        return set(httpx.get(f"{self.url}/api/v1/label/__name__/values", timeout=10).json()["data"])

    def label_values(self, label: str, match: str) -> list[str]:
        params = {"match[]": match}
        body = httpx.get(f"{self.url}/api/v1/label/{label}/values", params=params, timeout=10).json()
        assert body["status"] == "success", body
        return list(body["data"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"])


class SlackStandIn:
    """A local HTTP endpoint that records what Alertmanager posts to its Slack webhook URL."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with stand_in._lock:
                    stand_in.messages.append({"path": self.path, "body": json.loads(body), "at": time.monotonic()})
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.webhook_path = "/services/T000/B000/otel-llm-test"

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.webhook_path}"

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)

    def __enter__(self) -> SlackStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class Alertmanager(Process):
    """Debian's Alertmanager with collector/alertmanager/alertmanager.yml, posting to ``slack``."""

    name = "alertmanager"

    def __init__(self, workdir: Path, slack: SlackStandIn) -> None:
        super().__init__(workdir)
        self.port = free_port()
        source = COLLECTOR / "alertmanager"
        config = yaml.safe_load((source / "alertmanager.yml").read_text())
        config["templates"] = [str(source / t) for t in config["templates"]]
        webhook = workdir / "slack-webhook-url"
        webhook.write_text(slack.url + "\n")
        webhook.chmod(0o600)
        for receiver in config["receivers"]:
            for slack_config in receiver.get("slack_configs", []):
                assert "api_url" not in slack_config, "the webhook URL must come from api_url_file"
                slack_config["api_url_file"] = str(webhook)
            if receiver["name"] == "deadmans-switch":
                # What collector/README.md tells users to add (the ping URL from a secret file),
                # pointed at the stand-in on a path of its own.
                assert "webhook_configs" not in receiver, "the shipped dead man's switch sends nothing"
                switch = workdir / "deadmans-switch-url"
                switch.write_text(slack.url.replace(slack.webhook_path, DEADMANS_SWITCH_PATH) + "\n")
                receiver["webhook_configs"] = [{"url_file": str(switch), "send_resolved": False}]
        for route in [config["route"], *config["route"].get("routes", [])]:
            route["group_wait"] = "1s"
        self.config_path = workdir / "alertmanager.yml"
        self.config_path.write_text(yaml.safe_dump(config))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            tool("prometheus-alertmanager"),
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--web.external-url={self.url}",
            "--cluster.listen-address=",
        ]

    def ready_url(self) -> str:
        return f"{self.url}/-/ready"
