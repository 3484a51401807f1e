"""The metric store's series as the SDK's ``MetricsData`` points, built at collection.

One reader's view of one series: cumulative readers get the totals since the series started
(what they reported before plus this interval, in the SDK's order), delta readers the interval
alone and nothing for an untouched one; gauges report their last value only while fresh.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    Sum,
)

from .series import DELTA, Spec, _Carry, _Interval, _Series, exemplar_of


def data_point(
    spec: Spec,
    series: _Series,
    interval: _Interval,
    temporality: AggregationTemporality,
    now_ns: int,
    fresh: bool,
    carry: _Carry | None,
) -> NumberDataPoint | HistogramDataPoint | None:
    """The point of ``series`` for a reader collecting ``interval`` (``carry``: a cumulative
    reader's totals including it), or None when that reader has nothing to report."""
    kind = spec.kind
    if kind == "gauge":
        return NumberDataPoint(series.attrs, None, now_ns, series.sum, []) if fresh else None  # type: ignore[arg-type]
    delta = temporality is DELTA
    if delta and not interval.touched:
        return None
    start = interval.start_ns if delta else series.start_ns
    exemplars = [exemplar_of(e) for e in interval.exemplars if e is not None] if interval.exemplars else []
    total, count, counts, low, high = (
        (interval.sum, interval.count, interval.counts, interval.min, interval.max) if carry is None else carry
    )
    if kind != "histogram":
        return NumberDataPoint(series.attrs, start, now_ns, total, exemplars)  # type: ignore[arg-type]
    return HistogramDataPoint(
        attributes=series.attrs,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        time_unix_nano=now_ns,
        count=count,
        sum=total,
        bucket_counts=tuple(counts),
        explicit_bounds=spec.buckets,
        min=low,
        max=high,
        exemplars=exemplars,
    )


def metric_of(
    spec: Spec, points: Sequence[NumberDataPoint | HistogramDataPoint], temporality: AggregationTemporality
) -> Metric | None:
    """One instrument's collected points as the SDK's ``Metric`` (None when there are none)."""
    if not points:
        return None
    if spec.kind in ("counter", "updowncounter"):
        data: Sum | Histogram | Gauge = Sum(points, temporality, spec.kind == "counter")  # type: ignore[arg-type]
    elif spec.kind == "histogram":
        data = Histogram(points, temporality)  # type: ignore[arg-type]
    else:
        data = Gauge(points)  # type: ignore[arg-type]
    return Metric(spec.name, spec.description, spec.unit, data)
