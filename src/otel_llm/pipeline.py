"""``otel_llm.setup()``: let otel-llm build the process's OpenTelemetry pipeline, and instrument LiteLLM.

For an application that calls LiteLLM in-process and has not configured OpenTelemetry itself::

    import otel_llm

    otel_llm.setup(service_name="support-agent")

It builds what the LiteLLM proxy gets from ``otel_llm.proxy.callback``, from the standard
``OTEL_*`` environment and otel-llm's settings: OTLP/HTTP or gRPC to a Collector (or the
Prometheus endpoint with ``OTEL_LLM_EXPORTER=prometheus``; console, none), bounded queues,
exporters that never block a call and count what they drop, URL credentials redacted, usage
records, and the **lean path** (``OTEL_LLM_LEAN_PATH``, on by default): otel-llm's metrics
aggregate in its own bounded store and its spans and log records skip the SDK's per-attribute
machinery: record + emit 104 µs per call against 184 through the SDK's instruments
(``benchmarks/``). Then it instruments LiteLLM (the callback plus the live spans of
:class:`LiteLLMInstrumentor`).

Where OpenTelemetry providers are installed already (the application's own, or
``opentelemetry-instrument``'s), they are used as they are, on the SDK path: otel-llm never
replaces providers it did not build. Calling it again returns the same callback.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Final

from . import _state
from ._config import resolve
from ._export.lean_spans import lean_tracer
from ._export.setup import install_providers, sdk_installed

if TYPE_CHECKING:
    from .callback import OtelLLMCallback

_log: Final = logging.getLogger("otel_llm")
_lock = threading.Lock()
_installed: list[OtelLLMCallback] = []


def setup(*, service_name: str | None = None, capture_content: str | None = None) -> OtelLLMCallback:
    """Install OpenTelemetry providers built by otel-llm (unless some are installed) and instrument LiteLLM.

    Args:
        service_name: ``service.name`` unless ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES``
            names one (None: the OpenTelemetry SDK's default, ``unknown_service``).
        capture_content: overrides ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.

    Returns:
        The callback LiteLLM now reports to (``callback.telemetry.lean`` tells the path taken).

    Raises:
        ConfigurationError: a setting that would make the telemetry silently wrong (the message
            names the fix), e.g. the Prometheus endpoint's port taken.
    """
    with _lock:
        if _installed:
            _log.debug("otel-llm: setup() ran already; returning its callback")
            return _installed[0]
        from .callback import OtelLLMCallback  # noqa: PLC0415  # imports LiteLLM
        from .instrumentor import LiteLLMInstrumentor  # noqa: PLC0415

        instrumentor = LiteLLMInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry and instrumentor.callback is not None:
            _log.warning(
                "otel-llm: LiteLLM was instrumented before setup() (opentelemetry-instrument or "
                "LiteLLMInstrumentor().instrument()); setup() keeps that instrumentation and its providers"
            )
            _installed.append(instrumentor.callback)
            return instrumentor.callback
        if sdk_installed():
            _log.info(
                "otel-llm: OpenTelemetry providers are installed already; setup() uses them as they are "
                "(the SDK path, not the lean path of the pipeline otel-llm builds)"
            )
        pipeline = install_providers(resolve(), service_name=service_name)
        lean = pipeline.metric_store is not None
        callback = OtelLLMCallback(
            capture_content=capture_content,
            headroom_meter_provider=pipeline.headroom_meter_provider,
            metric_store=pipeline.metric_store,
            flush_too=pipeline.shared_reader,
            span_tracer=lean_tracer if lean else None,
        )
        instrumentor.instrument(callback=callback)
        _installed.append(callback)
        return callback


def _reset() -> None:
    with _lock:
        _installed.clear()


_state.register("setup", "setup() builds the process's pipeline once; a second call returns its callback", _reset)
