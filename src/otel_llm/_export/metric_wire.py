"""OTLP metric encoding straight to the protobuf wire format.

A metric export at scale is large: a gateway with thousands of active keys exports tens of
thousands of points per collection, and the SDK's encoder builds a protobuf message object for
every point, attribute and exemplar before serializing them (~12 µs a point here), in the
reader's thread, holding the GIL the proxy's event loop needs for the whole export. This encoder
writes the same bytes directly, as :mod:`.span_wire` does for spans: exactly what
``encode_metrics(data).SerializeToString()`` produces (tests compare the two byte for byte).
Anything outside the shapes it handles (exponential histograms, a value beyond int64, an
attribute value the SDK would reject, two entries for one resource or scope, which the SDK's
encoder merges its own way) raises :class:`span_wire.Unsupported`, and the exporter uses the
SDK's encoder for that export, so nothing is lost or encoded differently.

Field numbers and wire types are opentelemetry-proto's ``metrics.proto`` and the collector's
``metrics_service.proto``; protobuf writes fields in field-number order and omits proto3
defaults, except oneof members and ``optional`` fields that were set.
"""

from __future__ import annotations

from collections.abc import Sequence
from struct import Struct
from typing import Any, Final

from opentelemetry.sdk.metrics.export import Gauge, Histogram, MetricsData, Sum

from .span_wire import (
    _DOUBLE,
    _FIXED64,
    _I64_TYPE,
    _LEN_TYPE,
    _VARINT_TYPE,
    Unsupported,
    _field,
    _resource_message,
    _scope_message,
    _string,
    _tag,
    _varint,
    cached_attributes,
)

REQUEST_RESOURCE_METRICS: Final = _tag(1, _LEN_TYPE)  # ExportMetricsServiceRequest.resource_metrics
RESOURCE_METRICS_RESOURCE: Final = _tag(1, _LEN_TYPE)
RESOURCE_METRICS_SCOPE_METRICS: Final = _tag(2, _LEN_TYPE)
RESOURCE_METRICS_SCHEMA_URL: Final = _tag(3, _LEN_TYPE)
SCOPE_METRICS_SCOPE: Final = _tag(1, _LEN_TYPE)
SCOPE_METRICS_METRICS: Final = _tag(2, _LEN_TYPE)
SCOPE_METRICS_SCHEMA_URL: Final = _tag(3, _LEN_TYPE)
METRIC_NAME: Final = _tag(1, _LEN_TYPE)
METRIC_DESCRIPTION: Final = _tag(2, _LEN_TYPE)
METRIC_UNIT: Final = _tag(3, _LEN_TYPE)
METRIC_GAUGE: Final = _tag(5, _LEN_TYPE)
METRIC_SUM: Final = _tag(7, _LEN_TYPE)
METRIC_HISTOGRAM: Final = _tag(9, _LEN_TYPE)
DATA_POINTS: Final = _tag(1, _LEN_TYPE)  # Gauge, Sum and Histogram .data_points
AGGREGATION_TEMPORALITY: Final = _tag(2, _VARINT_TYPE)  # Sum and Histogram
SUM_IS_MONOTONIC: Final = _tag(3, _VARINT_TYPE)
POINT_START_TIME: Final = _tag(2, _I64_TYPE)  # NumberDataPoint and HistogramDataPoint
POINT_TIME: Final = _tag(3, _I64_TYPE)
NUMBER_AS_DOUBLE: Final = _tag(4, _I64_TYPE)
NUMBER_EXEMPLARS: Final = _tag(5, _LEN_TYPE)
NUMBER_AS_INT: Final = _tag(6, _I64_TYPE)  # sfixed64
NUMBER_ATTRIBUTES: Final = _tag(7, _LEN_TYPE)
HISTOGRAM_COUNT: Final = _tag(4, _I64_TYPE)  # fixed64
HISTOGRAM_SUM: Final = _tag(5, _I64_TYPE)  # optional double
HISTOGRAM_BUCKET_COUNTS: Final = _tag(6, _LEN_TYPE)  # packed fixed64
HISTOGRAM_EXPLICIT_BOUNDS: Final = _tag(7, _LEN_TYPE)  # packed double
HISTOGRAM_EXEMPLARS: Final = _tag(8, _LEN_TYPE)
HISTOGRAM_ATTRIBUTES: Final = _tag(9, _LEN_TYPE)
HISTOGRAM_MIN: Final = _tag(11, _I64_TYPE)  # optional double
HISTOGRAM_MAX: Final = _tag(12, _I64_TYPE)  # optional double
EXEMPLAR_TIME: Final = _tag(2, _I64_TYPE)
EXEMPLAR_AS_DOUBLE: Final = _tag(3, _I64_TYPE)
EXEMPLAR_SPAN_ID: Final = _tag(4, _LEN_TYPE)
EXEMPLAR_TRACE_ID: Final = _tag(5, _LEN_TYPE)
EXEMPLAR_AS_INT: Final = _tag(6, _I64_TYPE)  # sfixed64
EXEMPLAR_ATTRIBUTES: Final = _tag(7, _LEN_TYPE)

_SFIXED64: Final = Struct("<q").pack
_MONOTONIC: Final = SUM_IS_MONOTONIC + b"\x01"
# Point attributes repeat across metrics and collections (key alias, team, model, provider):
# their encoded fields are cached as the span encoder's are, bounded the same way.
_number_fields: dict[tuple[str, str], bytes] = {}
_histogram_fields: dict[tuple[str, str], bytes] = {}
_exemplar_fields: dict[tuple[str, str], bytes] = {}


def encode_metrics(data: MetricsData) -> bytes:
    """ExportMetricsServiceRequest bytes of ``data``, as the SDK's encoder writes them."""
    out = []
    seen_resources: list[Any] = []
    for resource_metrics in data.resource_metrics:
        resource = resource_metrics.resource
        if any(resource == other for other in seen_resources):
            raise Unsupported("two entries for one resource")  # the SDK's encoder keeps the last
        seen_resources.append(resource)
        parts = [_field(RESOURCE_METRICS_RESOURCE, _resource_message(resource))]
        seen_scopes: list[Any] = []
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope
            if any(scope == other for other in seen_scopes):
                raise Unsupported("two entries for one scope")
            seen_scopes.append(scope)
            scope_parts = [_field(SCOPE_METRICS_SCOPE, _scope_message(scope))]
            scope_parts += [_field(SCOPE_METRICS_METRICS, _metric(metric)) for metric in scope_metrics.metrics]
            scope_parts.append(_string(SCOPE_METRICS_SCHEMA_URL, scope.schema_url))
            parts.append(_field(RESOURCE_METRICS_SCOPE_METRICS, b"".join(scope_parts)))
        parts.append(_string(RESOURCE_METRICS_SCHEMA_URL, resource.schema_url))
        out.append(_field(REQUEST_RESOURCE_METRICS, b"".join(parts)))
    return b"".join(out)


def count_points(data: MetricsData) -> int:
    """How many data points ``data`` holds (what the exporter's self-metrics count)."""
    return sum(
        len(metric.data.data_points)
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


def _metric(metric: Any) -> bytes:
    head = _string(METRIC_NAME, metric.name) + _string(METRIC_DESCRIPTION, metric.description)
    head += _string(METRIC_UNIT, metric.unit)
    data = metric.data
    cls = data.__class__
    points = data.data_points
    if not points:  # the SDK's encoder sets the data's fields while adding points: none, no data
        if cls not in (Sum, Histogram, Gauge):
            raise Unsupported(f"metric data of type {cls.__name__}")
        return head
    if cls is Histogram:
        body = [_field(DATA_POINTS, _histogram_point(point)) for point in points]
        body.append(_temporality(data.aggregation_temporality))
        return head + _field(METRIC_HISTOGRAM, b"".join(body))
    if cls is Sum:
        body = [_field(DATA_POINTS, _number_point(point, True)) for point in points]
        body.append(_temporality(data.aggregation_temporality))
        if data.is_monotonic:
            body.append(_MONOTONIC)
        return head + _field(METRIC_SUM, b"".join(body))
    if cls is Gauge:
        return head + _field(METRIC_GAUGE, b"".join([_field(DATA_POINTS, _number_point(p, False)) for p in points]))
    raise Unsupported(f"metric data of type {cls.__name__}")  # exponential histograms: the SDK's encoder


def _temporality(temporality: Any) -> bytes:
    value = int(temporality)
    if not 0 <= value < 0x80:
        raise Unsupported("aggregation temporality out of range")
    return AGGREGATION_TEMPORALITY + _varint(value) if value else b""  # UNSPECIFIED (0): the default


def _number_point(point: Any, with_start: bool) -> bytes:
    parts = []
    if with_start and point.start_time_unix_nano:
        parts.append(POINT_START_TIME + _FIXED64(point.start_time_unix_nano))
    if point.time_unix_nano:
        parts.append(POINT_TIME + _FIXED64(point.time_unix_nano))
    value = point.value
    as_int = isinstance(value, int)
    if not as_int:
        parts.append(NUMBER_AS_DOUBLE + _DOUBLE(value))
    parts += [_field(NUMBER_EXEMPLARS, _exemplar(exemplar)) for exemplar in point.exemplars]
    if as_int:
        parts.append(NUMBER_AS_INT + _int64(value))
    parts += cached_attributes(NUMBER_ATTRIBUTES, point.attributes, _number_fields)
    return b"".join(parts)


def _histogram_point(point: Any) -> bytes:
    parts = []
    if point.start_time_unix_nano:
        parts.append(POINT_START_TIME + _FIXED64(point.start_time_unix_nano))
    if point.time_unix_nano:
        parts.append(POINT_TIME + _FIXED64(point.time_unix_nano))
    if point.count:
        parts.append(HISTOGRAM_COUNT + _FIXED64(point.count))
    if point.sum is not None:
        parts.append(HISTOGRAM_SUM + _DOUBLE(point.sum))
    if point.bucket_counts:
        parts.append(_field(HISTOGRAM_BUCKET_COUNTS, _packed("Q", point.bucket_counts)))
    if point.explicit_bounds:
        parts.append(_field(HISTOGRAM_EXPLICIT_BOUNDS, _packed("d", point.explicit_bounds)))
    parts += [_field(HISTOGRAM_EXEMPLARS, _exemplar(exemplar)) for exemplar in point.exemplars]
    parts += cached_attributes(HISTOGRAM_ATTRIBUTES, point.attributes, _histogram_fields)
    if point.min is not None:
        parts.append(HISTOGRAM_MIN + _DOUBLE(point.min))
    if point.max is not None:
        parts.append(HISTOGRAM_MAX + _DOUBLE(point.max))
    return b"".join(parts)


def _exemplar(exemplar: Any) -> bytes:
    parts = [EXEMPLAR_TIME + _FIXED64(exemplar.time_unix_nano)] if exemplar.time_unix_nano else []
    value = exemplar.value
    if isinstance(value, float):
        parts.append(EXEMPLAR_AS_DOUBLE + _DOUBLE(value))
    elif not isinstance(value, int):
        raise Unsupported("exemplar value is neither int nor float")  # the SDK's encoder raises
    if exemplar.span_id is not None and exemplar.trace_id is not None:
        parts.append(EXEMPLAR_SPAN_ID + b"\x08" + exemplar.span_id.to_bytes(8, "big"))
        parts.append(EXEMPLAR_TRACE_ID + b"\x10" + exemplar.trace_id.to_bytes(16, "big"))
    if not isinstance(value, float):
        parts.append(EXEMPLAR_AS_INT + _int64(value))
    parts += cached_attributes(EXEMPLAR_ATTRIBUTES, exemplar.filtered_attributes, _exemplar_fields)
    return b"".join(parts)


def _int64(value: int) -> bytes:
    try:
        return _SFIXED64(value)
    except Exception as error:  # struct.error: beyond int64, which protobuf refuses too
        raise Unsupported("integer beyond int64") from error


_packers: dict[tuple[str, int], Any] = {}  # (format, length) → Struct.pack; a handful of bucket layouts


def _packed(kind: str, values: Sequence[Any]) -> bytes:
    """Packed repeated fixed64 ("Q") or double ("d") values, one struct call for all of them."""
    pack = _packers.get((kind, len(values)))
    if pack is None:
        if len(_packers) >= 64:
            _packers.clear()
        pack = _packers[(kind, len(values))] = Struct(f"<{len(values)}{kind}").pack
    try:
        return pack(*values)
    except Exception as error:  # struct.error: a count beyond uint64, a bound that is not a number
        raise Unsupported("a bucket count or bound out of range") from error
