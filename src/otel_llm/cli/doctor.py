"""``otel-llm doctor``: checks a real deployment and says what to fix.

Each finding is ok, warning or error, with the fix. The exit code is 1 when any error
is found, so the doctor can gate a deployment pipeline.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .._config import CONTENT_ENV, settings_of
from .._redact import safe_url
from . import module_available
from .findings import ERROR, OK, WARN, Finding
from .findings import section as _section
from .gunicorn import check_gunicorn, gunicorn_master_starts_reaper
from .master_key import check_master_key
from .pipeline_check import check_pipeline
from .settings_check import check_settings

__all__ = [
    "ERROR",
    "OK",
    "WARN",
    "Finding",
    "check_gunicorn",
    "check_master_key",
    "check_settings",
    "gunicorn_master_starts_reaper",
    "run",
]

CALLBACK = "otel_llm.proxy.callback"
PROMETHEUS_EXPORTER = "opentelemetry.exporter.prometheus"
OTLP_EXPORTER = "opentelemetry.exporter.otlp.proto.http"


def _load_config(path: Path | None) -> tuple[dict[str, Any] | None, list[Finding]]:
    if path is None:
        return None, [
            Finding(WARN, "config", "no --config given: only the environment is checked", "pass --config config.yaml")
        ]
    try:
        import yaml  # noqa: PLC0415  # LiteLLM's proxy extra brings PyYAML
    except ImportError:
        return None, [Finding(ERROR, "config", "PyYAML is not installed", "pip install 'litellm[proxy]'")]
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        return None, [Finding(ERROR, "config", f"cannot read {path}: {error}", "check the path and the YAML syntax")]
    if not isinstance(data, dict):
        return None, [Finding(ERROR, "config", f"{path} is not a LiteLLM config (no mapping at top level)", "")]
    return data, []


def check_callback(config: Mapping[str, Any] | None) -> list[Finding]:
    if config is None:
        return []
    settings = _section(config, "litellm_settings")
    callbacks = [str(c) for c in (settings.get("callbacks") or [])]
    if CALLBACK not in callbacks:
        return [
            Finding(
                ERROR,
                "callback",
                "otel_llm.proxy.callback is not in litellm_settings.callbacks: the proxy emits no otel-llm telemetry",
                f'add  litellm_settings: {{callbacks: ["{CALLBACK}"]}}  to the config',
            )
        ]
    if importlib.util.find_spec("otel_llm.proxy") is None:
        return [Finding(ERROR, "callback", "otel_llm.proxy cannot be imported", "pip install 'otel-llm[proxy]'")]
    return [Finding(OK, "callback", f"{CALLBACK} is configured and importable")]


def check_litellm_version() -> list[Finding]:
    """The installed LiteLLM against the supported range and the releases CI tested."""
    from packaging.requirements import Requirement  # noqa: PLC0415
    from packaging.version import InvalidVersion, Version  # noqa: PLC0415

    from ..package import TESTED, _instruments  # noqa: PLC0415

    requirement = Requirement(_instruments[0])
    try:
        version = importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        return [Finding(ERROR, "litellm", "LiteLLM is not installed", "pip install 'otel-llm[proxy]'")]
    if version not in requirement.specifier:
        return [
            Finding(
                ERROR,
                "litellm",
                f"LiteLLM {version} is outside the supported range {requirement.specifier}",
                f"pip install 'litellm{requirement.specifier}'",
            )
        ]
    oldest, newest = TESTED
    try:
        newer = Version(version) > Version(newest)
    except InvalidVersion:
        newer = False
    if newer:
        return [
            Finding(
                WARN,
                "litellm",
                f"LiteLLM {version} is newer than the newest release this otel-llm was tested on ({newest}):"
                " the callback works on any release that keeps LiteLLM's logging contract, and the"
                " instrumentor warns at start about any entry point that changed",
                f"watch the proxy's log for 'otel-llm:' warnings at start; to stay on the tested range,"
                f" pip install 'litellm>={oldest},<={newest}'",
            )
        ]
    return [Finding(OK, "litellm", f"LiteLLM {version} is supported (tested {oldest} to {newest})")]


def check_endpoint(env: Mapping[str, str], timeout_s: float = 2.0) -> list[Finding]:
    exporter = settings_of(env).exporter
    findings = []
    if exporter == "prometheus":
        if module_available(PROMETHEUS_EXPORTER):
            return [Finding(OK, "exporter", "metrics are served on an in-process Prometheus endpoint")]
        # The proxy logs an error and exports over OTLP instead: check that too.
        findings.append(
            Finding(
                ERROR,
                "exporter",
                "OTEL_LLM_EXPORTER=prometheus but opentelemetry-exporter-prometheus is not installed: "
                "the proxy serves no Prometheus endpoint and exports over OTLP instead",
                "pip install 'otel-llm[proxy,prometheus]'",
            )
        )
    if not module_available(OTLP_EXPORTER):
        return [
            *findings,
            Finding(
                ERROR,
                "exporter",
                "the OTLP exporter (opentelemetry-exporter-otlp) is not installed: no telemetry leaves the proxy",
                "pip install 'otel-llm[proxy]'",
            ),
        ]
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        endpoint = "http://localhost:4318"
        findings.append(
            Finding(
                WARN,
                "exporter",
                f"OTEL_EXPORTER_OTLP_ENDPOINT is not set: telemetry goes to {endpoint}",
                "set it to your Collector",
            )
        )
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    host = parts.hostname or "localhost"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 4318)
    except ValueError:
        return [*findings, Finding(ERROR, "exporter", f"{safe_url(endpoint)} has an invalid port", "fix the URL")]
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as error:
        return [
            *findings,
            Finding(
                ERROR,
                "exporter",
                f"cannot reach the OTLP endpoint {safe_url(endpoint)} ({error.strerror or error})",
                "start the Collector (see collector/README.md) or correct OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
        ]
    return [*findings, Finding(OK, "exporter", f"OTLP endpoint {safe_url(endpoint)} is reachable")]


def check_resource(env: Mapping[str, str]) -> list[Finding]:
    findings = []
    if env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        findings.append(Finding(OK, "resource", "the service name is set"))
    else:
        findings.append(
            Finding(
                WARN,
                "resource",
                "OTEL_SERVICE_NAME is not set: spans and metrics say service.name=litellm-proxy",
                "set OTEL_SERVICE_NAME",
            )
        )
    if not env.get("OTEL_RESOURCE_ATTRIBUTES"):
        findings.append(
            Finding(
                WARN,
                "resource",
                "OTEL_RESOURCE_ATTRIBUTES is not set: environments and regions cannot be told apart",
                "e.g. OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=prod",
            )
        )
    return findings


def _workers(env: Mapping[str, str], config: Mapping[str, Any] | None, workers: int | None) -> int:
    if workers is not None:
        return workers
    raw = env.get("NUM_WORKERS") or str(_section(config, "general_settings").get("num_workers") or "1")
    return int(raw) if raw.strip().isdigit() else 1


def check_workers(env: Mapping[str, str], config: Mapping[str, Any] | None, workers: int | None) -> list[Finding]:
    count = _workers(env, config, workers)
    findings = []
    if count > 1 and settings_of(env).exporter == "prometheus":
        findings.append(
            Finding(
                ERROR,
                "workers",
                f"{count} workers with the in-process Prometheus endpoint: each worker would serve its own totals",
                "use OTEL_LLM_EXPORTER=otlp with a Collector (collector/), or run one worker",
            )
        )
    multiproc = env.get("PROMETHEUS_MULTIPROC_DIR")
    settings = _section(config, "litellm_settings")
    litellm_prometheus = "prometheus" in [str(c) for c in (settings.get("callbacks") or [])]
    if litellm_prometheus and count > 1 and not multiproc:
        findings.append(
            Finding(
                ERROR,
                "workers",
                f"LiteLLM's prometheus callback with {count} workers and no PROMETHEUS_MULTIPROC_DIR: corrupt charts",
                "set PROMETHEUS_MULTIPROC_DIR to an empty writable directory, or drop it for otel-llm's OTLP metrics",
            )
        )
    if multiproc and not (os.path.isdir(multiproc) and os.access(multiproc, os.W_OK)):
        findings.append(
            Finding(
                ERROR,
                "workers",
                f"PROMETHEUS_MULTIPROC_DIR={multiproc} does not exist or is not writable",
                f"mkdir -p {multiproc} and make it writable by the proxy user",
            )
        )
    if not findings:
        findings.append(Finding(OK, "workers", f"{count} worker(s): OTLP totals add up across workers"))
    return findings


def check_loop_windows(env: Mapping[str, str], workers: int) -> list[Finding]:
    """Loop detection across workers: shared through Redis, or each worker sees only its own calls."""
    settings = settings_of(env)
    if settings.loop_mode == "off":
        return []
    if settings.loop_redis_url:
        if module_available("redis"):
            return [Finding(OK, "loop windows", "shared across workers and replicas through Redis")]
        return [
            Finding(
                ERROR,
                "loop windows",
                "OTEL_LLM_LOOP_REDIS_URL is set but the redis package is not installed: each worker keeps its own",
                "pip install 'otel-llm[redis]'",
            )
        ]
    if workers > 1:
        return [
            Finding(
                WARN,
                "loop windows",
                f"each of the {workers} workers sees only the calls it serves: a loop spread over them takes "
                f"up to {workers}x the repeats to be caught",
                "set OTEL_LLM_LOOP_REDIS_URL to the Redis your LiteLLM deployment runs (pip install 'otel-llm[redis]')",
            )
        ]
    return [Finding(OK, "loop windows", "one worker: its own windows see every call")]


_CONFLICTS = (
    ("opentelemetry-instrumentation-litellm", "OpenLLMetry's LiteLLM instrumentation", "litellm"),
    ("openinference-instrumentation-litellm", "OpenInference's LiteLLM instrumentation", "litellm"),
)


def check_conflicts(env: Mapping[str, str], config: Mapping[str, Any] | None) -> list[Finding]:
    findings = []
    settings = _section(config, "litellm_settings")
    configured = {str(c) for key in ("callbacks", "success_callback") for c in (settings.get(key) or [])}
    # Without otel-llm's callback (its own error, see check_callback) LiteLLM's are the only LLM spans.
    ours = CALLBACK in [str(c) for c in (settings.get("callbacks") or [])]
    builtins = configured & {"otel", "opentelemetry", "arize", "langfuse_otel"} if ours else set()
    for builtin in sorted(builtins):
        findings.append(
            Finding(
                WARN,
                "duplicates",
                f"LiteLLM's own '{builtin}' callback is also configured: every call gets two LLM spans",
                f"remove '{builtin}' from litellm_settings",
            )
        )
    disabled = {x.strip() for x in env.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    for package, name, entry_point in _CONFLICTS:
        try:
            importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
        if entry_point not in disabled:
            findings.append(
                Finding(
                    WARN,
                    "duplicates",
                    f"{name} ({package}) is installed: under opentelemetry-instrument it adds its own LiteLLM spans",
                    f"pip uninstall {package}, or OTEL_PYTHON_DISABLED_INSTRUMENTATIONS={entry_point}",
                )
            )
    if not findings:
        findings.append(Finding(OK, "duplicates", "no other LiteLLM instrumentation found"))
    return findings


def check_content(env: Mapping[str, str]) -> list[Finding]:
    mode = settings_of(env).content_mode.value  # an invalid value is check_settings' finding
    if mode == "NO_CONTENT":
        return [Finding(OK, "content", "prompts and completions are not captured")]
    where = {
        "SPAN_ONLY": "on spans (to the trace backend)",
        "EVENT_ONLY": "in log events (to the log backend)",
        "SPAN_AND_EVENT": "on spans and in log events",
    }[mode]
    return [
        Finding(
            WARN,
            "content",
            f"{CONTENT_ENV}={mode}: prompts and completions are exported {where}",
            "make sure that backend may hold user data, or unset the variable",
        )
    ]


def run(
    config_path: Path | None,
    env: Mapping[str, str] | None = None,
    workers: int | None = None,
    run_gunicorn: bool = False,
) -> tuple[int, list[Finding]]:
    """All findings, and the exit code (1 if any is an error)."""
    env = os.environ if env is None else env
    config, findings = _load_config(config_path)
    findings += check_callback(config)
    findings += check_litellm_version()
    findings += check_endpoint(env)
    findings += check_resource(env)
    findings += check_workers(env, config, workers)
    findings += check_loop_windows(env, _workers(env, config, workers))
    findings += check_gunicorn(env, run_gunicorn, _workers(env, config, workers))
    findings += check_conflicts(env, config)
    findings += check_content(env)
    findings += check_pipeline(env)
    findings += check_settings(env)
    findings += check_master_key(env, config)
    return (1 if any(f.level == ERROR for f in findings) else 0), findings
