"""OTLP span encoding straight to the protobuf wire format.

The SDK's encoder builds a protobuf message object for every span, attribute and value
before serializing them: ~3 µs per attribute, ~64 µs per proxy span, spent in the exporter
thread while it holds the GIL the proxy's event loop needs. This encoder writes the same
bytes directly. It produces exactly what ``encode_spans(spans).SerializePartialToString()``
produces (tests compare the two byte for byte); for anything outside the common shapes it
handles (an attribute value type the SDK would reject or log, an integer beyond int64, a
string that is not valid UTF-8) it raises :class:`Unsupported` and the caller falls back to
the SDK's encoder for that batch, so nothing is lost and nothing is encoded differently.

Field numbers and wire types are those of opentelemetry-proto's ``trace.proto`` and
``common.proto``; a field whose value is the proto3 default is omitted, as protobuf does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from struct import Struct
from struct import error as StructError
from typing import Any, Final, TypeVar

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind

from .. import _errors
from .queue_items import Encoded, origin_of

# Wire types and field tags, named by message and field of opentelemetry-proto
# (trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto, the collector's
# trace_service.proto). A tag is (field number << 3) | wire type, one byte for fields < 16.
_VARINT_TYPE, _I64_TYPE, _LEN_TYPE, _I32_TYPE = 0, 1, 2, 5


def _tag(field: int, wire_type: int) -> bytes:
    key = (field << 3) | wire_type
    return bytes((key,)) if key < 0x80 else bytes(((key & 0x7F) | 0x80, key >> 7))


ANY_STRING: Final = _tag(1, _LEN_TYPE)  # AnyValue.string_value
ANY_BOOL: Final = _tag(2, _VARINT_TYPE)  # AnyValue.bool_value
ANY_INT: Final = _tag(3, _VARINT_TYPE)  # AnyValue.int_value
ANY_DOUBLE: Final = _tag(4, _I64_TYPE)  # AnyValue.double_value
ANY_ARRAY: Final = _tag(5, _LEN_TYPE)  # AnyValue.array_value
ANY_BYTES: Final = _tag(7, _LEN_TYPE)  # AnyValue.bytes_value
ARRAY_VALUES: Final = _tag(1, _LEN_TYPE)  # ArrayValue.values
KV_KEY: Final = _tag(1, _LEN_TYPE)  # KeyValue.key
KV_VALUE: Final = _tag(2, _LEN_TYPE)  # KeyValue.value
SPAN_TRACE_ID: Final = _tag(1, _LEN_TYPE)  # Span.trace_id (also Link.trace_id)
SPAN_SPAN_ID: Final = _tag(2, _LEN_TYPE)  # Span.span_id (also Link.span_id)
SPAN_TRACE_STATE: Final = _tag(3, _LEN_TYPE)
SPAN_PARENT_SPAN_ID: Final = _tag(4, _LEN_TYPE)
SPAN_NAME: Final = _tag(5, _LEN_TYPE)
SPAN_KIND: Final = _tag(6, _VARINT_TYPE)
SPAN_START_TIME: Final = _tag(7, _I64_TYPE)
SPAN_END_TIME: Final = _tag(8, _I64_TYPE)
SPAN_ATTRIBUTES: Final = _tag(9, _LEN_TYPE)
SPAN_DROPPED_ATTRIBUTES: Final = _tag(10, _VARINT_TYPE)
SPAN_EVENTS: Final = _tag(11, _LEN_TYPE)
SPAN_DROPPED_EVENTS: Final = _tag(12, _VARINT_TYPE)
SPAN_LINKS: Final = _tag(13, _LEN_TYPE)
SPAN_DROPPED_LINKS: Final = _tag(14, _VARINT_TYPE)
SPAN_STATUS: Final = _tag(15, _LEN_TYPE)
SPAN_FLAGS: Final = _tag(16, _I32_TYPE)
STATUS_MESSAGE: Final = _tag(2, _LEN_TYPE)
STATUS_CODE: Final = _tag(3, _VARINT_TYPE)
EVENT_TIME: Final = _tag(1, _I64_TYPE)
EVENT_NAME: Final = _tag(2, _LEN_TYPE)
EVENT_ATTRIBUTES: Final = _tag(3, _LEN_TYPE)
EVENT_DROPPED_ATTRIBUTES: Final = _tag(4, _VARINT_TYPE)
LINK_ATTRIBUTES: Final = _tag(4, _LEN_TYPE)
LINK_DROPPED_ATTRIBUTES: Final = _tag(5, _VARINT_TYPE)
LINK_FLAGS: Final = _tag(6, _I32_TYPE)
SCOPE_NAME: Final = _tag(1, _LEN_TYPE)  # InstrumentationScope.name
SCOPE_VERSION: Final = _tag(2, _LEN_TYPE)
SCOPE_ATTRIBUTES: Final = _tag(3, _LEN_TYPE)
RESOURCE_ATTRIBUTES: Final = _tag(1, _LEN_TYPE)  # Resource.attributes
RESOURCE_SPANS_RESOURCE: Final = _tag(1, _LEN_TYPE)
RESOURCE_SPANS_SCOPE_SPANS: Final = _tag(2, _LEN_TYPE)
RESOURCE_SPANS_SCHEMA_URL: Final = _tag(3, _LEN_TYPE)
SCOPE_SPANS_SCOPE: Final = _tag(1, _LEN_TYPE)
SCOPE_SPANS_SPANS: Final = _tag(2, _LEN_TYPE)
SCOPE_SPANS_SCHEMA_URL: Final = _tag(3, _LEN_TYPE)
REQUEST_RESOURCE_SPANS: Final = _tag(1, _LEN_TYPE)  # ExportTraceServiceRequest.resource_spans

_FIXED64: Final = Struct("<Q").pack
_FIXED32: Final = Struct("<I").pack
_DOUBLE: Final = Struct("<d").pack
_VARINT_1: Final[tuple[bytes, ...]] = tuple(bytes((i,)) for i in range(128))
_INT_1: Final[tuple[bytes, ...]] = tuple(ANY_INT + byte for byte in _VARINT_1)  # AnyValue.int_value 0..127
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_UINT64: Final = (1 << 64) - 1

# opentelemetry.proto.trace.v1.Span.SpanKind (the API's INTERNAL is 0, the proto's is 1)
_KIND: Final = {
    SpanKind.INTERNAL: SPAN_KIND + b"\x01",
    SpanKind.SERVER: SPAN_KIND + b"\x02",
    SpanKind.CLIENT: SPAN_KIND + b"\x03",
    SpanKind.PRODUCER: SPAN_KIND + b"\x04",
    SpanKind.CONSUMER: SPAN_KIND + b"\x05",
}
# SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, with SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK for a remote context
_CONTEXT_LOCAL: Final = 0x100
_CONTEXT_REMOTE: Final = 0x300
_FLAGS_LOCAL: Final = SPAN_FLAGS + _FIXED32(_CONTEXT_LOCAL)
_FLAGS_REMOTE: Final = SPAN_FLAGS + _FIXED32(_CONTEXT_REMOTE)
# Both caches below keep only strings up to this length (see _span_attributes).
_CACHED_STRING_MAX_CHARS: Final = 128
_KEY_CACHE_LIMIT: Final = 1024


class Unsupported(Exception):
    """The batch holds something only the SDK's encoder handles; use it instead."""


_T = TypeVar("_T")


def encode_or_none(encode: Callable[[_T], bytes], item: _T, component: str) -> bytes | None:
    """``encode(item)`` (a span, a log record, a batch), or None where the SDK's way must take it:
    ``Unsupported`` (a value or shape only the SDK's encoder decides about), or a bug of otel-llm's
    encoder, reported under ``component`` and never raised (it must not cost the item)."""
    with _errors.boundary(component, reraise=False):
        try:
            return encode(item)
        except Unsupported:
            return None
    return None


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _VARINT_1[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag, the payload's length, the payload."""
    size = len(payload)  # most payloads are short: their one-byte length without a call
    return tag + (_VARINT_1[size] if size < 0x80 else _varint(size)) + payload


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError as error:  # lone surrogates: the SDK's encoder decides
        raise Unsupported("string is not valid UTF-8") from error


# Attribute keys repeat on every span: their encoded KeyValue.key field is cached (bounded).
_key_fields: dict[str, bytes] = {}


def _key_field(key: str) -> bytes:
    encoded = _key_fields.get(key)
    if encoded is None:
        if type(key) is not str:
            raise Unsupported("attribute key is not a str")
        encoded = _field(KV_KEY, _utf8(key)) if key else b""
        if len(key) <= _CACHED_STRING_MAX_CHARS:
            if len(_key_fields) >= _KEY_CACHE_LIMIT:
                _key_fields.clear()
            _key_fields[key] = encoded
    return encoded


def _any_value(value: Any) -> bytes:
    """opentelemetry.proto.common.v1.AnyValue; oneof members are written even when zero."""
    cls = value.__class__  # exact types first: the common case, no isinstance chain
    if cls is str:
        return _field(ANY_STRING, _utf8(value))
    if cls is int and 0 <= value < 0x80:
        small: int = value
        return _INT_1[small]
    if cls is float:
        return ANY_DOUBLE + _DOUBLE(value)
    if isinstance(value, str):
        return _field(ANY_STRING, _utf8(value))
    if isinstance(value, bool):
        return ANY_BOOL + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise Unsupported("integer beyond int64")
        return ANY_INT + _varint(value & _UINT64)
    if isinstance(value, float):
        return ANY_DOUBLE + _DOUBLE(value)
    if value is None:
        return b""
    if isinstance(value, bytes):
        return _field(ANY_BYTES, value)
    if isinstance(value, (tuple, list)):
        return _field(ANY_ARRAY, b"".join([_field(ARRAY_VALUES, _any_value(item)) for item in value]))
    raise Unsupported(f"attribute value of type {type(value).__name__}")


def _key_value(key: str, value: Any) -> bytes:
    """opentelemetry.proto.common.v1.KeyValue; its value is written even when empty."""
    encoded = _any_value(value)
    return _key_field(key) + _field(KV_VALUE, encoded)


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> list[bytes]:
    if not attributes:
        return []
    return [_field(tag, _key_value(key, value)) for key, value in attributes.items()]


# A span's string attributes mostly repeat (operation, provider, model, key and team aliases):
# their whole encoded field is cached by (key, value), bounded in entries and in the length of
# what it keeps (captured prompts, user agents and ids are long, rarely repeat, and would make
# the cache hold megabytes); values of other types are not cached (1, 1.0 and True are equal
# dict keys but encode differently).
_span_string_fields: dict[tuple[str, str], bytes] = {}
_SPAN_STRING_CACHE_LIMIT: Final = 4096


def _span_attributes(attributes: Mapping[str, Any] | None) -> list[bytes]:
    return cached_attributes(SPAN_ATTRIBUTES, attributes, _span_string_fields)


def cached_attributes(
    tag: bytes, attributes: Mapping[str, Any] | None, cache: dict[tuple[str, str], bytes]
) -> list[bytes]:
    """The ``tag`` fields of ``attributes``, short string ones from ``cache`` (bounded, see above)."""
    if not attributes:
        return []
    fields = []
    for key, value in attributes.items():
        if value.__class__ is str and len(value) <= _CACHED_STRING_MAX_CHARS and len(key) <= _CACHED_STRING_MAX_CHARS:
            field = cache.get((key, value))
            if field is None:
                field = _field(tag, _key_value(key, value))
                if len(cache) >= _SPAN_STRING_CACHE_LIMIT:
                    cache.clear()
                cache[(key, value)] = field
            fields.append(field)
        else:
            fields.append(_field(tag, _key_value(key, value)))
    return fields


def _string(tag: bytes, text: str | None) -> bytes:
    return _field(tag, _utf8(text)) if text else b""


def _count(tag: bytes, count: int | None) -> bytes:
    return tag + _varint(count) if count else b""


def _ids(context: SpanContext) -> bytes:
    """Fields 1 and 2 of a Span and of a Link alike: trace id and span id, big-endian."""
    trace_id, span_id = context.trace_id.to_bytes(16, "big"), context.span_id.to_bytes(8, "big")
    return SPAN_TRACE_ID + b"\x10" + trace_id + SPAN_SPAN_ID + b"\x08" + span_id  # lengths 16 and 8


def _span(span: ReadableSpan) -> bytes:
    context = span.get_span_context()
    if context is None:
        raise Unsupported("span without a context")
    parent = span.parent
    parts = [_ids(context)]
    trace_state = context.trace_state
    if trace_state:
        parts.append(_string(SPAN_TRACE_STATE, ",".join([f"{key}={value}" for key, value in trace_state.items()])))
    if parent:
        parts.append(SPAN_PARENT_SPAN_ID + b"\x08" + parent.span_id.to_bytes(8, "big"))
    parts.append(_string(SPAN_NAME, span.name))
    parts.append(_KIND[span.kind])
    if span.start_time:
        parts.append(SPAN_START_TIME + _FIXED64(span.start_time))
    if span.end_time:
        parts.append(SPAN_END_TIME + _FIXED64(span.end_time))
    parts += _span_attributes(span.attributes)
    parts.append(_count(SPAN_DROPPED_ATTRIBUTES, span.dropped_attributes))
    for event in span.events:
        parts.append(_field(SPAN_EVENTS, _event(event)))
    parts.append(_count(SPAN_DROPPED_EVENTS, span.dropped_events))
    for link in span.links:
        parts.append(_field(SPAN_LINKS, _link(link)))
    parts.append(_count(SPAN_DROPPED_LINKS, span.dropped_links))
    status = span.status
    status_fields = _string(STATUS_MESSAGE, status.description) + _count(STATUS_CODE, status.status_code.value)
    parts.append(_field(SPAN_STATUS, status_fields))
    parts.append(_FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL)
    return b"".join(parts)


def _event(event: Any) -> bytes:
    parts = [EVENT_TIME + _FIXED64(event.timestamp) if event.timestamp else b"", _string(EVENT_NAME, event.name)]
    parts += _attributes(EVENT_ATTRIBUTES, event.attributes)
    parts.append(_count(EVENT_DROPPED_ATTRIBUTES, event.dropped_attributes))
    return b"".join(parts)


def _link(link: Any) -> bytes:
    context = link.context
    parts = [_ids(context)]
    parts += _attributes(LINK_ATTRIBUTES, link.attributes)
    parts.append(_count(LINK_DROPPED_ATTRIBUTES, link.dropped_attributes))
    parts.append(LINK_FLAGS + _FIXED32(_CONTEXT_REMOTE if context.is_remote else _CONTEXT_LOCAL))
    return b"".join(parts)


def _scope(scope: Any) -> bytes:
    if scope is None:
        return b""
    parts = [_string(SCOPE_NAME, scope.name), _string(SCOPE_VERSION, scope.version)]
    parts += _attributes(SCOPE_ATTRIBUTES, scope.attributes)
    return b"".join(parts)


def _canonical(value: Any, seen: list[Any]) -> int:
    """Index of the first ``seen`` value equal to ``value`` (the SDK groups by equality)."""
    for index, other in enumerate(seen):
        if other is value or other == value:
            return index
    seen.append(value)
    return len(seen) - 1


def encode_span(span: ReadableSpan) -> bytes:
    """The bytes of one ``Span`` message (raises Unsupported for what only the SDK's encoder handles)."""
    try:
        return _span(span)
    except (OverflowError, StructError) as error:  # a timestamp or id out of range: the SDK decides
        raise Unsupported(str(error)) from error


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """ExportTraceServiceRequest bytes, grouped by resource then scope in first-seen order."""
    return encode_request([((span.resource, span.instrumentation_scope), encode_span(span)) for span in spans])


def encode_request(items: Sequence[Encoded]) -> bytes:
    """An export request of encoded spans or log records, grouped by resource then scope in first-seen
    order, as the SDK's encoders group them. ExportTraceServiceRequest and ExportLogsServiceRequest
    (and their ResourceSpans/ResourceLogs, ScopeSpans/ScopeLogs) number their fields alike, so the
    same bytes frame either. A resource or scope this encoder does not handle is written by the SDK's
    encoder (the records are encoded already and cannot take the SDK's way any more)."""
    resources: list[Any] = []
    scopes: list[Any] = []
    by_id: dict[tuple[int, int], tuple[int, int]] = {}
    groups: dict[int, dict[int, list[bytes]]] = {}
    for item in items:
        resource, given_scope = origin_of(item)
        scope = given_scope or None
        data = item[1]
        ids = (id(resource), id(scope))
        key = by_id.get(ids)
        if key is None:
            key = by_id[ids] = (_canonical(resource, resources), _canonical(scope, scopes))
        groups.setdefault(key[0], {}).setdefault(key[1], []).append(data)
    out = []
    for resource_index, scope_groups in groups.items():
        resource = resources[resource_index]
        parts = [_field(RESOURCE_SPANS_RESOURCE, _resource_message(resource))]
        for scope_index, encoded in scope_groups.items():
            scope = scopes[scope_index]
            scope_part = [_field(SCOPE_SPANS_SCOPE, _scope_message(scope))]
            scope_part += [_field(SCOPE_SPANS_SPANS, data) for data in encoded]
            scope_part.append(_string(SCOPE_SPANS_SCHEMA_URL, scope.schema_url if scope else None))
            parts.append(_field(RESOURCE_SPANS_SCOPE_SPANS, b"".join(scope_part)))
        parts.append(_string(RESOURCE_SPANS_SCHEMA_URL, resource.schema_url))
        out.append(_field(REQUEST_RESOURCE_SPANS, b"".join(parts)))
    return b"".join(out)


def _resource_message(resource: Any) -> bytes:
    try:
        return b"".join(_attributes(RESOURCE_ATTRIBUTES, resource.attributes))
    except Unsupported:
        from opentelemetry.exporter.otlp.proto.common._internal import _encode_resource  # noqa: PLC0415

        return bytes(_encode_resource(resource).SerializeToString())


def _scope_message(scope: Any) -> bytes:
    try:
        return _scope(scope)
    except Unsupported:
        from opentelemetry.exporter.otlp.proto.common._internal import (  # noqa: PLC0415
            _encode_instrumentation_scope,
        )

        return bytes(_encode_instrumentation_scope(scope).SerializeToString())
