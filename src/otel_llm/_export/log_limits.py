"""Export trouble is logged once a minute, with a count, not once per span or batch.

With the Collector down, the SDK warns for every dropped span ("Queue full") and every
failed batch ("Transient error ... retrying"): thousands of lines a minute in a busy
gateway's log. This filter lets the first of each kind through, then one summary line a
minute saying how many were suppressed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Final

_INTERVAL_S: Final = 60.0
_LOGGERS: Final = (
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk.metrics._internal.export",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
)
_VARIABLE: Final = re.compile(r"\d+(\.\d+)?")


class RateLimitFilter(logging.Filter):
    """Passes one record per message shape per interval; counts the rest."""

    def __init__(self, interval_s: float = _INTERVAL_S) -> None:
        super().__init__()
        self._interval_s = interval_s
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        shape = (record.name, _VARIABLE.sub("#", str(record.msg)))
        now = time.monotonic()
        with self._lock:
            last = self._last.get(shape)
            if last is not None and now - last < self._interval_s:
                self._suppressed[shape] = self._suppressed.get(shape, 0) + 1
                return False
            self._last[shape] = now
            suppressed = self._suppressed.pop(shape, 0)
        if suppressed:
            record.msg = f"{record.msg} [otel-llm: {suppressed} similar messages suppressed in the last minute]"
        return True


_installed = False
_filter: Final = RateLimitFilter()


def limit_pipeline_warnings() -> None:
    """Install the filter on the SDK's and OTLP exporters' loggers (once)."""
    global _installed
    if _installed:
        return
    _installed = True
    for name in _LOGGERS:
        logging.getLogger(name).addFilter(_filter)
