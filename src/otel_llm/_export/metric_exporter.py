"""The OTLP/HTTP metric exporter otel-llm builds: the SDK's, with otel-llm's metric encoder.

``WireMetricExporter`` is the SDK's ``OTLPMetricExporter`` (HTTP/protobuf) whose encoding step
is :mod:`.metric_wire` (the same bytes, written directly) and whose send is the SDK's own send
path (request size limit, retries, ``otel.sdk.exporter.*`` self-metrics) through
``span_exporter.send_encoded``. An export the encoder does not handle, an encoder bug (counted as
an internal error), a batch size limit (``max_export_batch_size``: the SDK splits the request) or
an SDK version whose exporter internals are not the known ones: the SDK's export, unchanged.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics.export import MetricExportResult, MetricsData

from . import metric_wire
from .span_exporter import sdk_internals_known, send_encoded
from .span_wire import encode_or_none

_log: Final = logging.getLogger("otel_llm")


class WireMetricExporter(OTLPMetricExporter):
    """``OTLPMetricExporter`` (HTTP/protobuf) with otel-llm's metric encoder."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The SDK's own internals the send path uses, and its batch size limit (a split request: the SDK's way).
        self.wire_encoding = sdk_internals_known(self) and hasattr(self, "_max_export_batch_size")
        if not self.wire_encoding:
            _log.info("otel-llm: this OTLP metric exporter version is not the one the encoder knows; using the SDK's")

    def export(
        self, metrics_data: MetricsData, timeout_millis: float | None = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        if not self.wire_encoding or self._shutdown or self._max_export_batch_size is not None:
            return super().export(metrics_data, timeout_millis, **kwargs)
        # An exponential histogram, an exotic value or an encoder bug: the SDK's encoder.
        data = encode_or_none(metric_wire.encode_metrics, metrics_data, "metric encoder")
        if data is None:
            return super().export(metrics_data, timeout_millis, **kwargs)
        sent = send_encoded(self, data, metric_wire.count_points(metrics_data), "metrics")
        return MetricExportResult.SUCCESS if sent else MetricExportResult.FAILURE
