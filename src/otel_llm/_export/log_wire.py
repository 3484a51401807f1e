"""OTLP log record encoding straight to the protobuf wire format (the logs twin of span_wire).

Every proxy attempt writes a usage record (``otel_llm.usage``, ~45 attributes). Through the
SDK each one became a ``LogRecord``, a ``ReadWriteLogRecord`` with ``BoundedAttributes``, a
copy and a ``ReadableLogRecord`` that waited up to a second in the batch queue (long enough to
be promoted by the garbage collector), and then a protobuf message object per attribute in the
exporter thread: ~120 µs of the proxy's CPU per request, measured (benchmarks/README.md). Here a
record is encoded once, when it is emitted, to the bytes of one ``LogRecord`` message, and the
batch queue holds those bytes.

The bytes are exactly what the SDK's ``encode_logs(batch).SerializeToString()`` writes (tests
compare them byte for byte). Anything this encoder does not handle (a map body or attribute, an
integer beyond int64, a string that is not valid UTF-8) raises :class:`span_wire.Unsupported`
and that record takes the SDK's way, so nothing is lost and nothing is encoded differently.

Field numbers are those of opentelemetry-proto's ``logs/v1/logs.proto`` and the collector's
``logs_service.proto``; a field whose value is the proto3 default is omitted, as protobuf does.
"""

from __future__ import annotations

from collections.abc import Mapping
from struct import error as StructError
from typing import Any, Final

from .queue_items import Encoded
from .span_wire import (
    _FIXED32,
    _FIXED64,
    _I32_TYPE,
    _I64_TYPE,
    _LEN_TYPE,
    _VARINT_TYPE,
    Unsupported,
    _any_value,
    _count,
    _field,
    _string,
    _tag,
    cached_attributes,
)

LOG_TIME: Final = _tag(1, _I64_TYPE)  # LogRecord.time_unix_nano
LOG_SEVERITY_NUMBER: Final = _tag(2, _VARINT_TYPE)
LOG_SEVERITY_TEXT: Final = _tag(3, _LEN_TYPE)
LOG_BODY: Final = _tag(5, _LEN_TYPE)
LOG_ATTRIBUTES: Final = _tag(6, _LEN_TYPE)
LOG_DROPPED_ATTRIBUTES: Final = _tag(7, _VARINT_TYPE)
LOG_FLAGS: Final = _tag(8, _I32_TYPE)
LOG_TRACE_ID: Final = _tag(9, _LEN_TYPE)
LOG_SPAN_ID: Final = _tag(10, _LEN_TYPE)
LOG_OBSERVED_TIME: Final = _tag(11, _I64_TYPE)
LOG_EVENT_NAME: Final = _tag(12, _LEN_TYPE)
_EMPTY_BODY: Final = LOG_BODY + b"\x00"  # the SDK always sets the body, an empty AnyValue when None
# Usage records repeat their string attributes (operation, provider, model, key alias, team):
# their encoded fields are cached as the span encoder's are, bounded the same way.
_log_string_fields: dict[tuple[str, str], bytes] = {}


# One encoded LogRecord message and where it belongs (what the batch queue holds). Export
# requests of logs are framed by span_wire.encode_request, as spans' are (the same field numbers).
WireLog = Encoded  # an encoded record and its origin (queue_items)


def encode_record(
    *,
    timestamp: int | None,
    observed_timestamp: int | None,
    trace_id: int,
    span_id: int,
    flags: int,
    severity_number: int | None,
    severity_text: str | None,
    body: Any,
    attributes: Mapping[str, Any] | None,
    dropped_attributes: int,
    event_name: str | None,
) -> bytes:
    """The bytes of one ``LogRecord`` message, as the SDK's ``_encode_log`` serializes it."""
    try:
        parts = [LOG_TIME + _FIXED64(timestamp) if timestamp else b""]
        if severity_number:
            parts.append(_count(LOG_SEVERITY_NUMBER, severity_number))
        parts.append(_string(LOG_SEVERITY_TEXT, severity_text))
        parts.append(_EMPTY_BODY if body is None else _field(LOG_BODY, _any_value(body)))
        if attributes:
            parts += cached_attributes(LOG_ATTRIBUTES, attributes, _log_string_fields)
        parts.append(_count(LOG_DROPPED_ATTRIBUTES, dropped_attributes))
        if flags:
            parts.append(LOG_FLAGS + _FIXED32(flags))
        if trace_id:
            parts.append(LOG_TRACE_ID + b"\x10" + trace_id.to_bytes(16, "big"))
        if span_id:
            parts.append(LOG_SPAN_ID + b"\x08" + span_id.to_bytes(8, "big"))
        if observed_timestamp:
            parts.append(LOG_OBSERVED_TIME + _FIXED64(observed_timestamp))
        parts.append(_string(LOG_EVENT_NAME, event_name))
    except (OverflowError, ValueError, StructError) as error:  # a timestamp or id out of range: the SDK decides
        raise Unsupported(str(error)) from error
    return b"".join(parts)


def encode_readable(record: Any) -> bytes:
    """One SDK ``ReadWriteLogRecord``/``ReadableLogRecord``, encoded."""
    log = record.log_record
    severity = log.severity_number
    return encode_record(
        timestamp=log.timestamp,
        observed_timestamp=log.observed_timestamp,
        trace_id=log.trace_id or 0,
        span_id=log.span_id or 0,
        flags=int(log.trace_flags or 0),
        severity_number=getattr(severity, "value", None),
        severity_text=log.severity_text,
        body=log.body,
        attributes=log.attributes,
        dropped_attributes=record.dropped_attributes,
        event_name=log.event_name,
    )
