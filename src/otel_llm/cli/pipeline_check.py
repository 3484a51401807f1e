"""The doctor's pipeline check: which recording path the proxy's metrics take, and whether it can."""

from __future__ import annotations

from collections.abc import Mapping

from .findings import OK, WARN, Finding


def check_pipeline(env: Mapping[str, str]) -> list[Finding]:
    """The lean path (otel-llm's metric store) or the SDK's instruments, and the SDK parts the lean path needs."""
    from .._config import settings_of  # noqa: PLC0415
    from .._export import sdk_internals  # noqa: PLC0415
    from .._export.setup import export_interval_s  # noqa: PLC0415

    config = settings_of(env)
    if not config.lean_path:
        return [
            Finding(
                OK,
                "pipeline",
                "metrics go through the SDK's instruments (OTEL_LLM_LEAN_PATH=false): every series the SDK has seen "
                "is kept for the life of each worker",
            ),
            *_emitter(config.proxy_emitter, config.exporter, lean=False),
        ]
    findings = []
    missing = sdk_internals.check()
    if "MetricReader._set_collect_callback" in missing or "MetricReader._instrument_class_temporality" in missing:
        findings.append(
            Finding(
                WARN,
                "pipeline",
                f"this OpenTelemetry SDK lacks what the lean path relies on ({', '.join(missing)}): the proxy falls "
                "back to the SDK's instruments",
                "use the OpenTelemetry SDK version otel-llm's constraints pin, or set OTEL_LLM_LEAN_PATH=false",
            )
        )
        return findings + _emitter(config.proxy_emitter, config.exporter, lean=False)
    interval = export_interval_s(env)
    if config.metric_idle_timeout_s < interval:
        findings.append(
            Finding(
                WARN,
                "pipeline",
                f"OTEL_LLM_METRIC_IDLE_TIMEOUT={config.metric_idle_timeout_s:g} s is shorter than the metric export "
                f"interval ({interval:g} s): the proxy raises it to the interval",
                f"set OTEL_LLM_METRIC_IDLE_TIMEOUT to at least {interval:g}",
            )
        )
    findings.append(
        Finding(
            OK,
            "pipeline",
            "lean path: where the proxy builds its providers, otel-llm aggregates its metrics itself; series idle "
            f"for {max(config.metric_idle_timeout_s, interval):g} s stop being exported (under "
            "opentelemetry-instrument the providers are yours and the SDK's instruments are used)",
        )
    )
    return findings + _emitter(config.proxy_emitter, config.exporter, lean=True)


def _emitter(emitter: str, exporter: str, *, lean: bool) -> list[Finding]:
    """Where the proxy makes each attempt's telemetry (OTEL_LLM_PROXY_EMITTER)."""
    if emitter != "process":
        return [Finding(OK, "emitter", "each LLM attempt's telemetry is made and exported in its worker")]
    if not lean or exporter != "otlp":
        return [
            Finding(
                WARN,
                "emitter",
                "OTEL_LLM_PROXY_EMITTER=process needs the lean path and OTLP "
                f"(OTEL_LLM_LEAN_PATH={'true' if lean else 'false'}, OTEL_LLM_EXPORTER={exporter}): the proxy emits "
                "in its workers",
                "set OTEL_LLM_LEAN_PATH=true and OTEL_LLM_EXPORTER=otlp, or unset OTEL_LLM_PROXY_EMITTER",
            )
        ]
    return [
        Finding(
            OK,
            "emitter",
            "each LLM attempt's spans, metric points and usage record are made and exported by a process beside its "
            "worker (OTEL_LLM_PROXY_EMITTER=process; its own service.instance.id), unless the providers are the "
            "application's (opentelemetry-instrument)",
        )
    ]
