"""Every private part of the OpenTelemetry SDK that otel-llm relies on, each checked before use.

otel-llm builds its own pipeline in the proxy and the demo, and a few things it needs have no
public API in the Python SDK (1.45). They are listed here, and only here; each accessor checks
that the part is what it was written against and otherwise falls back to the public way (a
slower or plainer pipeline, never a broken one). ``check()`` lists what is missing: the
doctor reports it and tests/test_sdk_internals.py fails on an SDK upgrade that moves one.

* ``MetricReader._instrument_class_temporality``: the temporality a reader's exporter asked
  for, by instrument class (the store exports with the same temporality as the SDK would).
* ``MetricReader._set_collect_callback``: the hook a MeterProvider uses to make a reader
  collect from it; the shared store reader collects from the store alone, with no provider.
* ``MeterProvider._update_resource``: called after a fork to give the provider a fresh
  ``service.instance.id``; overridden by the provider of shared series (SDK path only).
* ``OTLPSpanExporter`` (HTTP) ``_client``, ``_metrics``, ``_max_request_size``, ``_shutdown``
  and ``_common._is_request_too_large``: the send path the wire span encoder reuses
  (``span_exporter.py``, which falls back to the SDK's own export when they differ).
* ``Tracer._span_limits``, ``._instrumentation_scope``, ``._is_enabled()``, ``._tracer_metrics``,
  ``TracerProvider._active_span_processor._span_processors`` and ``opentelemetry.attributes.
  _clean_attribute_value``: what a lean span (``lean_spans.py``) takes from the SDK tracer it
  stands in for; without any of them, the SDK's own spans are used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader


def reader_temporality(reader: MetricReader) -> dict[type, AggregationTemporality]:
    """The reader's temporality by SDK instrument class (cumulative for all when it cannot be read)."""
    table = getattr(reader, "_instrument_class_temporality", None)
    if isinstance(table, dict) and all(isinstance(v, AggregationTemporality) for v in table.values()):
        return table
    return {}


def set_collect(reader: MetricReader, collect: Callable[..., Any]) -> bool:
    """Make ``reader`` collect with ``collect(reader, timeout_millis=...)``; False when the SDK has no such hook."""
    hook = getattr(reader, "_set_collect_callback", None)
    if not callable(hook):
        return False
    hook(collect)
    return True


def tracer_limits(tracer: Any) -> Any:
    """The span limits an SDK tracer applies."""
    return tracer._span_limits  # noqa: SLF001


def tracer_scope(tracer: Any) -> Any:
    """The instrumentation scope of an SDK tracer."""
    return tracer._instrumentation_scope  # noqa: SLF001


def tracer_enabled(tracer: Any) -> bool:
    """Whether an SDK tracer records (its tracer configuration can switch it off)."""
    enabled = getattr(tracer, "_is_enabled", None)
    return bool(enabled()) if callable(enabled) else True


def tracer_start_metrics(tracer: Any, parent: Any, decision: Any) -> Callable[[], None] | None:
    """Count a span started in the SDK tracer's own metrics; returns what counts its end."""
    metrics = getattr(tracer, "_tracer_metrics", None)
    start = getattr(metrics, "start_span", None)
    return start(parent, decision) if callable(start) else None


def span_processors(provider: Any) -> tuple[Any, ...] | None:
    """The span processors on an SDK tracer provider (None when they cannot be read)."""
    active = getattr(provider, "_active_span_processor", None)
    processors = getattr(active, "_span_processors", None)
    return tuple(processors) if isinstance(processors, tuple) else None


def clean_attribute_value(value: Any, max_length: int | None) -> Any:
    """The SDK's cleaning of an attribute value (sequences to tuples, odd types to str or None)."""
    from opentelemetry.attributes import _clean_attribute_value  # noqa: PLC0415

    return _clean_attribute_value(value, max_length)


def lean_span_parts_missing(tracer: Any) -> list[str]:
    """What a lean span needs from the SDK tracer and does not find (empty: all there)."""
    missing = [
        name for name in ("_span_limits", "_instrumentation_scope", "span_processor") if not hasattr(tracer, name)
    ]
    if not callable(getattr(getattr(tracer, "span_processor", None), "_on_ending", None)):
        missing.append("SpanProcessor._on_ending")
    try:
        from opentelemetry.attributes import _clean_attribute_value  # noqa: F401, PLC0415
    except ImportError:
        missing.append("opentelemetry.attributes._clean_attribute_value")
    return missing


def check() -> list[str]:
    """The private parts listed above that this SDK does not have (empty: all as expected)."""
    missing = []
    reader = _probe_reader()
    if not reader_temporality(reader):
        missing.append("MetricReader._instrument_class_temporality")
    if not callable(getattr(reader, "_set_collect_callback", None)):
        missing.append("MetricReader._set_collect_callback")
    if not callable(getattr(MeterProvider, "_update_resource", None)):
        missing.append("MeterProvider._update_resource")
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    provider = TracerProvider()
    missing += [f"Tracer {name}" for name in lean_span_parts_missing(provider.get_tracer("otel-llm-check"))]
    if span_processors(provider) is None:
        missing.append("TracerProvider._active_span_processor._span_processors")
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

        from .span_exporter import sdk_internals_known  # noqa: PLC0415

        exporter = OTLPSpanExporter(endpoint="http://127.0.0.1:1/v1/traces")
        if not sdk_internals_known(exporter):
            missing.append("OTLPSpanExporter send path (_client, _metrics, _max_request_size, _shutdown)")
        exporter.shutdown()  # type: ignore[no-untyped-call]  # the SDK exporter is untyped
    except ImportError:  # no OTLP exporter installed: nothing of it is relied on
        pass
    return missing


def _probe_reader() -> MetricReader:
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: PLC0415

    return InMemoryMetricReader()
