"""The log pipeline otel-llm builds for the proxy: log records encoded when emitted, queued as bytes.

Three parts, each the SDK's with one step replaced:

* ``WireLogExporter``: the SDK's ``OTLPLogExporter`` (HTTP/protobuf) that sends batches of
  already-encoded records (:class:`log_wire.WireLog`) with the SDK's own send path (size limit,
  retries, ``otel.sdk.exporter.*`` metrics); any SDK record in a batch goes the SDK's way.
* ``WireLogRecordProcessor``: the SDK's ``BatchLogRecordProcessor`` (queue, batches, worker
  thread, fork handling, drop counting) whose queue holds each record's encoded bytes instead of a
  copy of the SDK record, so nothing of a record outlives its request (the records no longer
  wait up to a second in the queue and get promoted by LiteLLM's garbage collector).
* ``LeanLogger``, handed out by ``WireLoggerProvider``: ``emit`` with the usual keyword fields
  writes the record's bytes straight into that queue, skipping the SDK's ``LogRecord``,
  ``ReadWriteLogRecord`` and ``BoundedAttributes`` (with the SDK's attribute limits applied
  the same way). Only while that processor is the provider's only one: a processor added by
  anyone else sees every record as the SDK makes it.

Whatever the wire encoder does not handle, or an SDK whose private parts are not the ones this
was written against (1.45), takes the SDK's way: a record is never lost or encoded differently
(tests/test_log_wire.py compares the bytes with the SDK's).
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Mapping, Sequence
from time import time_ns
from typing import Any, Final

from opentelemetry._logs import Logger as APILogger
from opentelemetry.context import get_current
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import get_current_span

from .log_wire import WireLog, encode_readable, encode_record
from .queue_items import encoded
from .span_exporter import export_mixed, sdk_internals_known
from .span_wire import Unsupported, encode_or_none

_log: Final = logging.getLogger("otel_llm")
_LOGGER_PARTS: Final = ("_is_enabled", "_logger_metrics", "_log_record_limits", "resource", "instrumentation_scope")


class WireLogExporter(OTLPLogExporter):
    """``OTLPLogExporter`` that sends records otel-llm encoded; SDK records the SDK's way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wire_encoding = sdk_internals_known(self)
        if not self.wire_encoding:
            _log.info("otel-llm: this OTLP log exporter version is not the one the log encoder knows; using the SDK's")

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        sdk_export = super().export
        ok = export_mixed(
            self, batch, "logs", lambda rest: sdk_export(rest) is LogRecordExportResult.SUCCESS, "log encoder"
        )
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE


class WireLogRecordProcessor(BatchLogRecordProcessor):
    """``BatchLogRecordProcessor`` whose queue holds each record encoded (a ``WireLog``)."""

    def __init__(self, exporter: WireLogExporter, **kwargs: Any) -> None:
        super().__init__(exporter, **kwargs)
        batch = getattr(self, "_batch_processor", None)
        self._emit = getattr(batch, "emit", None)
        self.wire = bool(exporter.wire_encoding and callable(self._emit))

    def on_emit(self, log_record: Any) -> None:
        if self.wire:
            data = encode_or_none(encode_readable, log_record, "log encoder")  # a map body: the SDK's way
            if data is not None:
                resource = log_record.resource if log_record.resource is not None else _default_resource()
                self.emit_wire(encoded(resource, log_record.instrumentation_scope, data))
                return
        super().on_emit(log_record)

    def emit_wire(self, record: WireLog) -> None:
        self._emit(record)  # type: ignore[misc]  # callable when self.wire


@functools.cache
def _default_resource() -> Resource:
    """The resource of a record that has none, as the SDK gives it: made once, so its queue items
    share one origin (``span_wire.encoded`` numbers resources by identity)."""
    return Resource.create({})


def _limited(attributes: Mapping[str, Any], limits: Any) -> Mapping[str, Any] | None:
    """``attributes`` as ``BoundedAttributes`` would keep them under ``limits``; None when the SDK
    would drop or convert anything (too many, an invalid key): then the record takes the SDK's way."""
    count = limits.max_log_record_attributes
    if count is not None and len(attributes) > count:
        return None
    if "" in attributes:
        return None
    length = limits.max_log_record_attribute_length
    if length is None:
        return attributes
    return {key: _truncated(value, length) for key, value in attributes.items()}


def _truncated(value: Any, length: int) -> Any:
    if isinstance(value, str):
        return value[:length] if len(value) > length else value
    if isinstance(value, (tuple, list)):
        return tuple(_truncated(item, length) for item in value)
    return value


class LeanLogger(APILogger):
    """An SDK logger whose keyword ``emit`` encodes the record straight into the wire processor."""

    def __init__(self, logger: Any, provider: LoggerProvider, processor: WireLogRecordProcessor) -> None:
        scope = logger.instrumentation_scope
        super().__init__(scope.name, scope.version, scope.schema_url, scope.attributes)
        self._logger = logger
        self._multi = getattr(provider, "_multi_log_record_processor", None)
        self._processor = processor

    def enabled(self, **kwargs: Any) -> bool:
        return bool(self._logger.enabled(**kwargs))

    def emit(  # the SDK logger's signature
        self,
        record: Any = None,
        *,
        timestamp: int | None = None,
        observed_timestamp: int | None = None,
        context: Any = None,
        severity_number: Any = None,
        severity_text: str | None = None,
        body: Any = None,
        attributes: Mapping[str, Any] | None = None,
        event_name: str | None = None,
        exception: BaseException | None = None,
    ) -> None:
        logger = self._logger
        if record is None and exception is None and self._processors() == (self._processor,):
            if not logger._is_enabled():  # noqa: SLF001  # checked by WireLoggerProvider.get_logger
                return
            item = self._encode(
                timestamp, observed_timestamp, context, severity_number, severity_text, body, attributes, event_name
            )
            if item is not None:
                logger._logger_metrics.emit_log()  # noqa: SLF001
                self._processor.emit_wire(item)
                return
        logger.emit(
            record,
            timestamp=timestamp,
            observed_timestamp=observed_timestamp,
            context=context,
            severity_number=severity_number,
            severity_text=severity_text,
            body=body,
            attributes=attributes,
            event_name=event_name,
            exception=exception,
        )

    def _processors(self) -> tuple[Any, ...] | None:
        return getattr(self._multi, "_log_record_processors", None)

    def _encode(
        self,
        timestamp: int | None,
        observed_timestamp: int | None,
        context: Any,
        severity_number: Any,
        severity_text: str | None,
        body: Any,
        attributes: Mapping[str, Any] | None,
        event_name: str | None,
    ) -> WireLog | None:
        logger = self._logger
        if attributes:
            attributes = _limited(attributes, logger._log_record_limits)  # noqa: SLF001
            if attributes is None:
                return None
        # As the API's LogRecord: the current context when none (or an empty one) is given.
        span_context = get_current_span(context or get_current()).get_span_context()
        try:
            data = encode_record(
                timestamp=timestamp,
                observed_timestamp=time_ns() if observed_timestamp is None else observed_timestamp,
                trace_id=span_context.trace_id,
                span_id=span_context.span_id,
                flags=int(span_context.trace_flags),
                severity_number=getattr(severity_number, "value", None),
                severity_text=severity_text,
                body=body,
                attributes=attributes,
                dropped_attributes=0,
                event_name=event_name,
            )
        except Unsupported:
            return None
        return encoded(logger.resource, logger.instrumentation_scope, data)


class WireLoggerProvider(LoggerProvider):
    """The SDK's logger provider, whose loggers are ``LeanLogger``s over its own while ``processor``
    (added here) is its only processor."""

    def __init__(self, processor: WireLogRecordProcessor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_log_record_processor(processor)
        self._wire_processor = processor
        self._lean: weakref.WeakKeyDictionary[Any, LeanLogger] = weakref.WeakKeyDictionary()

    def get_logger(self, name: str, *args: Any, **kwargs: Any) -> APILogger:
        logger = super().get_logger(name, *args, **kwargs)
        if not self._wire_processor.wire or any(not hasattr(logger, part) for part in _LOGGER_PARTS):
            return logger
        lean = self._lean.get(logger)
        if lean is None:
            lean = self._lean[logger] = LeanLogger(logger, self, self._wire_processor)
        return lean
