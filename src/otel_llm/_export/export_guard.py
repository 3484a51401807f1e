"""A span exporter that stops hammering an endpoint that is down.

The OTLP exporter retries a failing batch until its timeout; with the Collector down,
every batch (and, at exit, every remaining batch) waits that long. After a failed
export this guard drops batches at once for a short pause, then tries again: the queue
keeps moving, exit stays quick, and every dropped span is counted and logged once a
minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Final

from opentelemetry import metrics
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .. import _names as n

_log: Final = logging.getLogger("otel_llm")
_LOG_INTERVAL_S: Final = 60.0


class GuardedSpanExporter(SpanExporter):
    """Wraps an exporter: after a failure, drop (and count) batches for ``pause_s``."""

    def __init__(self, exporter: SpanExporter, pause_s: float = 5.0) -> None:
        self._exporter = exporter
        self._pause_s = pause_s
        self._open_until = 0.0
        self._lock = threading.Lock()
        self._dropped_since_log = 0
        self._last_log = -_LOG_INTERVAL_S
        self._counter = metrics.get_meter("otel_llm").create_counter(
            n.TELEMETRY_DROPPED_METRIC, unit="{span}", description="Spans otel-llm's pipeline dropped, by reason."
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if time.monotonic() < self._open_until:
            self._drop(len(spans), "endpoint_down")
            return SpanExportResult.FAILURE
        result = self._exporter.export(spans)
        if result is SpanExportResult.SUCCESS:
            self._open_until = 0.0
        else:
            self._open_until = time.monotonic() + self._pause_s
            self._drop(len(spans), "export_failed")
        return result

    def _drop(self, count: int, reason: str) -> None:
        self._counter.add(count, {n.DROP_REASON: reason})
        now = time.monotonic()
        with self._lock:
            self._dropped_since_log += count
            if now - self._last_log < _LOG_INTERVAL_S:
                return
            dropped, self._dropped_since_log, self._last_log = self._dropped_since_log, 0, now
        _log.warning(
            "otel-llm: the trace endpoint is failing; %d spans dropped since the last report "
            "(counted in %s). Calls are not affected; export resumes when the endpoint answers.",
            dropped,
            n.TELEMETRY_DROPPED_METRIC,
        )

    @property
    def wire_encoding(self) -> bool:
        """Whether the wrapped exporter sends spans encoded when they ended (``span_queue``)."""
        return bool(getattr(self._exporter, "wire_encoding", False))

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)
