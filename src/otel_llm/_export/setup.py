"""OpenTelemetry SDK providers for the LiteLLM proxy, built from the standard environment.

Only when none are installed: under ``opentelemetry-instrument`` (or an application that
set its own providers) those are reused, so there is one pipeline and no duplicate span.

The pipeline is built for a gateway: bounded queues that drop the oldest telemetry
first, exporters that never block a request, small export batches (see SPAN_BATCH_SIZE),
spans encoded by otel-llm's own OTLP encoder (span_exporter.py), the SDK's own drop/export counters
(``otel.sdk.*``) switched on, export failures logged once a minute instead of once per
batch, and a fresh ``service.instance.id`` in every (forked) worker.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from .. import _parse
from .._config import Config
from .._emit.store import MetricStore
from . import sdk_internals
from .export_guard import GuardedSpanExporter
from .log_limits import limit_pipeline_warnings
from .readers import SharedStoreReader, StorePeriodicReader, exemplar_filter, prometheus_reader
from .span_queue import WireSpanProcessor
from .url_redaction import UrlRedactingSpanProcessor

_log: Final = logging.getLogger("otel_llm")
DEFAULT_SERVICE_NAME: Final = "litellm-proxy"
# Spans per OTLP export when OTEL_BSP_MAX_EXPORT_BATCH_SIZE is unset (the SDK's default is 512).
# Exporting a batch competes with the proxy's request handling for the GIL: when batches were
# encoded in the exporter thread, 512 proxy spans took ~40 ms, during which requests in flight ran at
# half speed, which showed up in p99 latency (benchmarks/README.md); 64 took ~5 ms. Spans are now
# encoded as they end (span_queue.py) and an export frames and sends them. The price of small
# batches: each export's fixed cost (~0.7 ms) eight times as often, ~0.5% of a proxy request's CPU.
SPAN_BATCH_SIZE: Final = 64
SDK_QUEUE_SIZE: Final = 2048  # OTEL_BSP_MAX_QUEUE_SIZE's default in the OpenTelemetry specification


class ConfigurationError(RuntimeError):
    """A setting that would make telemetry silently wrong; the message names the fix."""


class SharedMeterProvider(MeterProvider):
    """A meter provider for series that describe a key, not a process: no process identity.

    The SDK adds a fresh ``service.instance.id`` to every provider after a fork; this one
    keeps its resource as given, so forked workers still write one series per key.
    """

    def _update_resource(self, resource: Resource) -> None:
        return


def sdk_installed() -> bool:
    """True when an OpenTelemetry SDK tracer provider is already the global one."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def _resource(env: Mapping[str, str], service_name: str | None = DEFAULT_SERVICE_NAME) -> Resource:
    attributes: dict[str, str] = {}
    if (
        service_name
        and not env.get("OTEL_SERVICE_NAME")
        and "service.name" not in OTELResourceDetector().detect().attributes
    ):
        attributes["service.name"] = service_name
    # Resource.create adds a random service.instance.id (renewed after a fork by the SDK) and
    # merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over these.
    resource = Resource.create(attributes)
    if "service.instance.id" not in resource.attributes:  # SDKs before 1.39 do not add it
        import uuid  # noqa: PLC0415

        resource = resource.merge(Resource({"service.instance.id": str(uuid.uuid4())}))
    return resource


_warned_protocols: set[str] = set()


def _otlp_protocol(env: Mapping[str, str], signal: str) -> str:
    raw = (env.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "").strip()
    protocol = raw.lower() or "http/protobuf"
    if protocol not in ("grpc", "http/protobuf"):
        protocol = "http/protobuf"
        if raw in _warned_protocols:
            return protocol
        _warned_protocols.add(raw)
        _log.warning(
            "otel-llm: OTEL_EXPORTER_OTLP_PROTOCOL=%r is not supported by the Python exporters; "
            "set grpc or http/protobuf. Using http/protobuf.",
            raw,
        )
    return protocol


def _with_self_metrics(factory: Any, meter_provider: MeterProvider | None) -> Any:
    """Build an SDK component with its own metrics when this SDK version supports them."""
    if meter_provider is None:
        return factory()
    try:
        return factory(meter_provider=meter_provider)
    except TypeError:
        return factory()


def span_processor(
    exporter: SpanExporter, env: Mapping[str, str], meter_provider: MeterProvider | None = None
) -> BatchSpanProcessor:
    """The proxy's batch span processor: the SDK's, with smaller export batches unless configured,
    queueing each span encoded when it ends where ``exporter`` sends encoded spans (``span_queue``).

    ``env`` is authoritative for the two sizes (the SDK itself would read ``os.environ``).
    """
    queue_env, batch_env = "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
    queue = _parse.or_default(queue_env, env.get(queue_env), _parse.positive_int, SDK_QUEUE_SIZE)
    # The SDK rejects a batch larger than the queue: a deliberately tiny queue caps the default.
    batch = _parse.or_default(batch_env, env.get(batch_env), _parse.positive_int, min(SPAN_BATCH_SIZE, queue))
    processor: BatchSpanProcessor = _with_self_metrics(
        lambda **kw: WireSpanProcessor(exporter, max_queue_size=queue, max_export_batch_size=batch, **kw),
        meter_provider,
    )
    return processor


def _otlp_span_exporter(
    env: Mapping[str, str], meter_provider: MeterProvider | None, encoder: str = "wire"
) -> SpanExporter:
    if _otlp_protocol(env, "TRACES") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc  # noqa: PLC0415

        return _with_self_metrics(Grpc, meter_provider)  # type: ignore[no-any-return]
    if encoder == "wire":
        from .span_exporter import WireSpanExporter  # noqa: PLC0415

        return _with_self_metrics(WireSpanExporter, meter_provider)  # type: ignore[no-any-return]
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http  # noqa: PLC0415

    return _with_self_metrics(Http, meter_provider)  # type: ignore[no-any-return]


def _otlp_metric_exporter(env: Mapping[str, str], encoder: str = "wire") -> MetricExporter:
    if _otlp_protocol(env, "METRICS") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter as GrpcMetrics,
        )

        return GrpcMetrics()
    if encoder == "wire":
        from .metric_exporter import WireMetricExporter  # noqa: PLC0415

        return WireMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: PLC0415

    return OTLPMetricExporter()


def _metric_reader(exporter: MetricExporter, store: MetricStore | None, shared_too: bool = False) -> MetricReader:
    """A periodic reader of ``exporter``: adding the metric store's series on the lean path."""
    if store is None:
        return PeriodicExportingMetricReader(exporter)
    return StorePeriodicReader(exporter, store, (False, True) if shared_too else (False,))


def _prometheus_reader(env: Mapping[str, str], store: MetricStore | None) -> MetricReader | None:
    workers = env.get("NUM_WORKERS", "1").strip()
    if workers.isdigit() and int(workers) > 1:
        raise ConfigurationError(
            f"otel-llm: OTEL_LLM_EXPORTER=prometheus serves metrics from each of the proxy's {workers} workers "
            "separately, so totals would be wrong. Use OTEL_LLM_EXPORTER=otlp with an OpenTelemetry Collector "
            "(each worker is its own service.instance.id and the Collector adds them up), or run one worker."
        )
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415
        from prometheus_client import start_http_server  # noqa: PLC0415
    except ImportError:
        _log.error(
            "otel-llm: OTEL_LLM_EXPORTER=prometheus needs the Prometheus exporter, which is not installed: "
            "pip install 'otel-llm[prometheus]'. Exporting over OTLP instead."
        )
        return None
    host = env.get("OTEL_EXPORTER_PROMETHEUS_HOST", "localhost")
    port_raw = env.get("OTEL_EXPORTER_PROMETHEUS_PORT", "9464")
    try:
        port = int(port_raw)
    except ValueError as error:
        raise ConfigurationError(
            f"otel-llm: OTEL_EXPORTER_PROMETHEUS_PORT={port_raw!r} is not a port number"
        ) from error
    try:
        start_http_server(port=port, addr=host)
    except OSError as error:
        raise ConfigurationError(
            f"otel-llm: cannot serve Prometheus metrics on {host}:{port} ({error}). If the proxy runs several "
            "workers (gunicorn, --num_workers), use OTEL_LLM_EXPORTER=otlp with a Collector instead; otherwise "
            "free the port or set OTEL_EXPORTER_PROMETHEUS_PORT."
        ) from error
    _log.info("otel-llm: serving Prometheus metrics on http://%s:%d/metrics", host, port)
    return PrometheusMetricReader() if store is None else prometheus_reader(store)


def _otlp_available() -> bool:
    try:
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401, PLC0415
    except ImportError:
        _log.error(
            "otel-llm: the OTLP exporter is not installed, so no telemetry leaves this process: "
            "pip install 'otel-llm[otlp]' (or 'otel-llm[proxy]')."
        )
        return False
    return True


@dataclass
class Pipeline:
    """What ``install_providers`` built for the emitters: where headroom gauges go."""

    # The lean path: otel-llm's metric store, exported by the readers built here.
    metric_store: MetricStore | None = None
    # The SDK path: the meter provider of series that describe a key, not a process.
    headroom_meter_provider: MeterProvider | None = None
    # The lean path's reader of shared series (flushed with the providers at exit).
    shared_reader: MetricReader | None = None


def export_interval_s(env: Mapping[str, str]) -> float:
    name = "OTEL_METRIC_EXPORT_INTERVAL"
    return _parse.or_default(name, env.get(name), _parse.positive_int, 60000) / 1000


def metric_store(config: Config, env: Mapping[str, str]) -> MetricStore:
    """The lean path's store: series idle past OTEL_LLM_METRIC_IDLE_TIMEOUT expire, but never before a
    metric export has carried their last value (the timeout is at least the export interval)."""
    interval = export_interval_s(env)
    idle = config.metric_idle_timeout_s
    if idle < interval:
        _log.warning(
            "otel-llm: OTEL_LLM_METRIC_IDLE_TIMEOUT=%g is shorter than the metric export interval (%g s, "
            "OTEL_METRIC_EXPORT_INTERVAL): a series could expire before it is exported. Using %g s; set it to at "
            "least the export interval.",
            idle,
            interval,
            interval,
        )
        idle = interval
    return MetricStore(idle, config.metric_series_limit, config.headroom_ttl_s, exemplar_filter())


def _lean_path_possible() -> bool:
    """The SDK parts the lean path's readers rely on are there (else: the SDK's instruments, said once)."""
    missing = [m for m in sdk_internals.check() if m.startswith("MetricReader.")]
    if missing:
        _log.warning(
            "otel-llm: this OpenTelemetry SDK lacks %s, which the lean path's metric readers use: metrics go "
            "through the SDK's instruments instead. Use the SDK version otel-llm pins, or set "
            "OTEL_LLM_LEAN_PATH=false.",
            ", ".join(missing),
        )
    return not missing


def install_providers(
    config: Config, env: Mapping[str, str] | None = None, service_name: str | None = DEFAULT_SERVICE_NAME
) -> Pipeline:
    """Install global SDK providers from ``config`` and the SDK's ``OTEL_*`` environment unless some exist.

    On the lean path (OTEL_LLM_LEAN_PATH, the default) otel-llm's metrics aggregate in the
    returned metric store, which the readers built here export. Series that describe a key,
    not a process (headroom gauges), go out under a resource without ``service.instance.id``,
    so every worker writes the same series instead of one per worker. An empty Pipeline when
    existing providers are reused (then they are the application's: the SDK path).
    ``service_name``: ``service.name`` unless the environment names one (None: the SDK's default).
    """
    env = os.environ if env is None else env
    if sdk_installed():
        return Pipeline()
    limit_pipeline_warnings()
    choice = config.exporter
    resource = _resource(env, service_name)
    store = metric_store(config, env) if config.lean_path and _lean_path_possible() else None
    readers: list[MetricReader] = []
    if choice == "prometheus":
        prometheus = _prometheus_reader(env, store)
        if prometheus is None:
            choice = "otlp"
        else:
            readers.append(prometheus)
    if choice == "otlp" and not _otlp_available():
        choice = "none"
    if choice == "otlp":
        readers.append(_metric_reader(_otlp_metric_exporter(env, config.proxy_span_encoder), store))
    elif choice == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter  # noqa: PLC0415

        readers.append(_metric_reader(ConsoleMetricExporter(), store, shared_too=True))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(UrlRedactingSpanProcessor())
    traces_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if choice == "otlp" or (choice == "prometheus" and traces_endpoint and _otlp_available()):
        exporter = GuardedSpanExporter(_otlp_span_exporter(env, meter_provider, config.proxy_span_encoder))
        tracer_provider.add_span_processor(span_processor(exporter, env, meter_provider))
    elif choice == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter  # noqa: PLC0415

        tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    if (config.content_mode.on_events or config.usage_records) and choice == "otlp":
        _install_logger_provider(env, resource, wire=store is not None and config.proxy_span_encoder == "wire")
    _log.info(
        "otel-llm: installed OpenTelemetry providers (exporter=%s, lean path=%s, resource=%s)",
        choice,
        store is not None,
        dict(resource.attributes),
    )
    if choice != "otlp":
        # Prometheus (one worker), console, none: the process's own reader serves the shared series too.
        return Pipeline(metric_store=store)
    shared = Resource({k: v for k, v in resource.attributes.items() if k != "service.instance.id"})
    if store is None:
        return Pipeline(
            headroom_meter_provider=SharedMeterProvider(
                resource=shared,
                metric_readers=[PeriodicExportingMetricReader(_otlp_metric_exporter(env, config.proxy_span_encoder))],
            )
        )
    reader = SharedStoreReader(_otlp_metric_exporter(env, config.proxy_span_encoder), store, shared)
    atexit.register(reader.shutdown)
    return Pipeline(metric_store=store, shared_reader=reader)


def _install_logger_provider(env: Mapping[str, str], resource: Resource, wire: bool = False) -> None:
    """The global logger provider: on the lean path over HTTP, records are encoded by otel-llm when
    emitted (wire_logs.py); otherwise the SDK's provider, batch processor and exporter."""
    from opentelemetry._logs import set_logger_provider  # noqa: PLC0415
    from opentelemetry.sdk._logs import LoggerProvider  # noqa: PLC0415
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: PLC0415

    if _otlp_protocol(env, "LOGS") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter  # noqa: PLC0415
    elif wire:
        from .wire_logs import WireLogExporter, WireLoggerProvider, WireLogRecordProcessor  # noqa: PLC0415

        set_logger_provider(WireLoggerProvider(WireLogRecordProcessor(WireLogExporter()), resource=resource))
        return
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # type: ignore[assignment]  # noqa: PLC0415

    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    set_logger_provider(provider)
