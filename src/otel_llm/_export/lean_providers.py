"""Lean providers for the host's own telemetry: FastAPI's SERVER span and HTTP metrics, cheaper.

Recent FastAPI versions emit a SERVER span and ``http.server.request.duration`` /
``http.server.active_requests`` per request through whatever providers they are given
(``app._telemetry``'s ``tracer_provider`` and ``meter_provider``). In the proxy that costs
about as much as otel-llm's own telemetry. Where otel-llm built the pipeline, FastAPI gets
these providers instead of the global ones: tracers that start lean spans (``lean_spans``,
the same provider, sampler and processors underneath) and meters whose counters,
up-down counters and histograms record into otel-llm's metric store under FastAPI's own
instrumentation scope (exported by the same readers, with the same temporality and
exemplar rules). What the store does not do (observable instruments, synchronous gauges)
goes to the SDK meter as before. The telemetry is FastAPI's, name for name; only its cost
changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackT
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.util.types import Attributes

from .._emit.series import Kind, Spec
from .._emit.store import Instrument, MetricStore, sorted_key
from .lean_spans import lean_tracer

_HTTP_BOUNDED: Final = frozenset(
    {
        "http.request.method",
        "http.response.status_code",
        "url.scheme",
        "network.protocol.name",
        "network.protocol.version",
        "error.type",
    }
)
# The SDK's default explicit buckets (a histogram created without an advisory).
_SDK_DEFAULT_BUCKETS: Final = (
    *(0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0),
    *(500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0),
)


class LeanTracerProvider(trace_api.TracerProvider):
    """Tracers of ``provider`` that start lean spans (where its processors allow)."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes | None = None,
    ) -> trace_api.Tracer:
        sdk_tracer = self._provider.get_tracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )
        return lean_tracer(self._provider, sdk_tracer)


class _StoreInstrument:
    """A synchronous API instrument recording into the store (attributes keyed as the store keys them)."""

    def __init__(self, instrument: Instrument) -> None:
        self._instrument = instrument
        self._write = instrument.record if instrument.spec.kind == "histogram" else instrument.add
        self.name = instrument.spec.name
        self.unit = instrument.spec.unit
        self.description = instrument.spec.description

    def _record(self, amount: float, attributes: Attributes | None, context: Context | None) -> None:
        self._write(amount, sorted_key((attributes or {}).items()), context)

    def add(self, amount: float, attributes: Attributes | None = None, context: Context | None = None) -> None:
        self._record(amount, attributes, context)

    def record(self, amount: float, attributes: Attributes | None = None, context: Context | None = None) -> None:
        self._record(amount, attributes, context)


class LeanMeter(metrics_api.Meter):
    """A meter whose synchronous counters and histograms live in otel-llm's metric store."""

    def __init__(self, store: MetricStore, fallback: metrics_api.Meter, scope: tuple[str, str | None, str | None]):
        super().__init__(scope[0], scope[1], scope[2])
        self._store = store
        self._fallback = fallback
        self._scope = scope

    def _instrument(self, kind: Kind, name: str, unit: str, description: str, buckets: Sequence[float] = ()) -> Any:
        spec = Spec(
            name,
            kind,
            unit,
            description,
            tuple(float(b) for b in buckets),
            # Past the series cap, routes and server addresses fold into _OTHER; these stay.
            bounded=_HTTP_BOUNDED,
            scope=self._scope,
        )
        return _StoreInstrument(self._store.instrument(spec))

    def create_counter(self, name: str, unit: str = "", description: str = "") -> Any:
        return self._instrument("counter", name, unit, description)

    def create_up_down_counter(self, name: str, unit: str = "", description: str = "") -> Any:
        return self._instrument("updowncounter", name, unit, description)

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> Any:
        buckets = explicit_bucket_boundaries_advisory or _SDK_DEFAULT_BUCKETS
        return self._instrument("histogram", name, unit, description, buckets)

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> Any:
        return self._fallback.create_gauge(name, unit, description)

    def create_observable_counter(
        self, name: str, callbacks: Sequence[CallbackT] | None = None, unit: str = "", description: str = ""
    ) -> Any:
        return self._fallback.create_observable_counter(name, callbacks, unit, description)

    def create_observable_gauge(
        self, name: str, callbacks: Sequence[CallbackT] | None = None, unit: str = "", description: str = ""
    ) -> Any:
        return self._fallback.create_observable_gauge(name, callbacks, unit, description)

    def create_observable_up_down_counter(
        self, name: str, callbacks: Sequence[CallbackT] | None = None, unit: str = "", description: str = ""
    ) -> Any:
        return self._fallback.create_observable_up_down_counter(name, callbacks, unit, description)


class LeanMeterProvider(metrics_api.MeterProvider):
    """Meters recording into ``store`` (exported by the readers otel-llm built), ``fallback`` for the rest."""

    def __init__(self, store: MetricStore, fallback: metrics_api.MeterProvider) -> None:
        self._store = store
        self._fallback = fallback
        self._meters: dict[tuple[str, str | None, str | None], LeanMeter] = {}

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes | None = None,
    ) -> metrics_api.Meter:
        scope = (name, version, schema_url)
        meter = self._meters.get(scope)
        if meter is None:
            fallback = self._fallback.get_meter(name, version, schema_url, attributes)
            meter = self._meters[scope] = LeanMeter(self._store, fallback, scope)
        return meter


def host_providers(store: MetricStore | None) -> tuple[Any, Any] | None:
    """(tracer provider, meter provider) for the host's own telemetry on the lean path, or None."""
    if store is None:
        return None
    tracer_provider = trace_api.get_tracer_provider()
    if not isinstance(tracer_provider, TracerProvider):
        return None
    return LeanTracerProvider(tracer_provider), LeanMeterProvider(store, metrics_api.get_meter_provider())
