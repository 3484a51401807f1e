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

from collections.abc import Mapping, Sequence
from struct import Struct
from struct import error as StructError
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind

_FIXED64: Final = Struct("<Q").pack
_FIXED32: Final = Struct("<I").pack
_DOUBLE: Final = Struct("<d").pack
_VARINT_1: Final[tuple[bytes, ...]] = tuple(bytes((i,)) for i in range(128))
_INT_1: Final[tuple[bytes, ...]] = tuple(b"\x18" + byte for byte in _VARINT_1)  # AnyValue.int_value 0..127
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_UINT64: Final = (1 << 64) - 1

# opentelemetry.proto.trace.v1.Span.SpanKind (the API's INTERNAL is 0, the proto's is 1)
_KIND: Final = {
    SpanKind.INTERNAL: b"\x30\x01",
    SpanKind.SERVER: b"\x30\x02",
    SpanKind.CLIENT: b"\x30\x03",
    SpanKind.PRODUCER: b"\x30\x04",
    SpanKind.CONSUMER: b"\x30\x05",
}
# SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, with SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK for a remote context
_CONTEXT_LOCAL: Final = 0x100
_CONTEXT_REMOTE: Final = 0x300
_FLAGS_LOCAL: Final = b"\x85\x01" + _FIXED32(_CONTEXT_LOCAL)  # Span.flags, field 16
_FLAGS_REMOTE: Final = b"\x85\x01" + _FIXED32(_CONTEXT_REMOTE)
# Both caches below keep only strings up to this length (see _span_attributes).
_CACHED_STRING_MAX_CHARS: Final = 128
_KEY_CACHE_LIMIT: Final = 1024


class Unsupported(Exception):
    """The batch holds something only the SDK's encoder handles; use it instead."""


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
        encoded = _field(b"\x0a", _utf8(key)) if key else b""
        if len(key) <= _CACHED_STRING_MAX_CHARS:
            if len(_key_fields) >= _KEY_CACHE_LIMIT:
                _key_fields.clear()
            _key_fields[key] = encoded
    return encoded


def _any_value(value: Any) -> bytes:
    """opentelemetry.proto.common.v1.AnyValue; oneof members are written even when zero."""
    cls = value.__class__  # exact types first: the common case, no isinstance chain
    if cls is str:
        return _field(b"\x0a", _utf8(value))
    if cls is int and 0 <= value < 0x80:
        small: int = value
        return _INT_1[small]
    if cls is float:
        return b"\x21" + _DOUBLE(value)
    if isinstance(value, str):
        return _field(b"\x0a", _utf8(value))
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise Unsupported("integer beyond int64")
        return b"\x18" + _varint(value & _UINT64)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    if value is None:
        return b""
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, (tuple, list)):
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(item)) for item in value]))
    raise Unsupported(f"attribute value of type {type(value).__name__}")


def _key_value(key: str, value: Any) -> bytes:
    """opentelemetry.proto.common.v1.KeyValue; its value is written even when empty."""
    encoded = _any_value(value)
    return _key_field(key) + _field(b"\x12", encoded)


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
    if not attributes:
        return []
    fields = []
    cache = _span_string_fields
    for key, value in attributes.items():
        if value.__class__ is str and len(value) <= _CACHED_STRING_MAX_CHARS and len(key) <= _CACHED_STRING_MAX_CHARS:
            field = cache.get((key, value))
            if field is None:
                field = _field(b"\x4a", _key_value(key, value))
                if len(cache) >= _SPAN_STRING_CACHE_LIMIT:
                    cache.clear()
                cache[(key, value)] = field
            fields.append(field)
        else:
            fields.append(_field(b"\x4a", _key_value(key, value)))
    return fields


def _string(tag: bytes, text: str | None) -> bytes:
    return _field(tag, _utf8(text)) if text else b""


def _count(tag: bytes, count: int | None) -> bytes:
    return tag + _varint(count) if count else b""


def _ids(context: SpanContext) -> bytes:
    """Fields 1 and 2 of a Span and of a Link alike: trace id and span id, big-endian."""
    return b"\x0a\x10" + context.trace_id.to_bytes(16, "big") + b"\x12\x08" + context.span_id.to_bytes(8, "big")


def _span(span: ReadableSpan) -> bytes:
    context = span.get_span_context()
    if context is None:
        raise Unsupported("span without a context")
    parent = span.parent
    parts = [_ids(context)]
    trace_state = context.trace_state
    if trace_state:
        parts.append(_string(b"\x1a", ",".join([f"{key}={value}" for key, value in trace_state.items()])))
    if parent:
        parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
    parts.append(_string(b"\x2a", span.name))
    parts.append(_KIND[span.kind])
    if span.start_time:
        parts.append(b"\x39" + _FIXED64(span.start_time))
    if span.end_time:
        parts.append(b"\x41" + _FIXED64(span.end_time))
    parts += _span_attributes(span.attributes)
    parts.append(_count(b"\x50", span.dropped_attributes))
    for event in span.events:
        parts.append(_field(b"\x5a", _event(event)))
    parts.append(_count(b"\x60", span.dropped_events))
    for link in span.links:
        parts.append(_field(b"\x6a", _link(link)))
    parts.append(_count(b"\x70", span.dropped_links))
    status = span.status
    parts.append(_field(b"\x7a", _string(b"\x12", status.description) + _count(b"\x18", status.status_code.value)))
    parts.append(_FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL)
    return b"".join(parts)


def _event(event: Any) -> bytes:
    parts = [b"\x09" + _FIXED64(event.timestamp) if event.timestamp else b"", _string(b"\x12", event.name)]
    parts += _attributes(b"\x1a", event.attributes)
    parts.append(_count(b"\x20", event.dropped_attributes))
    return b"".join(parts)


def _link(link: Any) -> bytes:
    context = link.context
    parts = [_ids(context)]
    parts += _attributes(b"\x22", link.attributes)
    parts.append(_count(b"\x28", link.dropped_attributes))
    parts.append(b"\x35" + _FIXED32(_CONTEXT_REMOTE if context.is_remote else _CONTEXT_LOCAL))  # Link.flags
    return b"".join(parts)


def _scope(scope: Any) -> bytes:
    if scope is None:
        return b""
    parts = [_string(b"\x0a", scope.name), _string(b"\x12", scope.version)]
    parts += _attributes(b"\x1a", scope.attributes)
    return b"".join(parts)


def _canonical(value: Any, seen: list[Any]) -> int:
    """Index of the first ``seen`` value equal to ``value`` (the SDK groups by equality)."""
    for index, other in enumerate(seen):
        if other is value or other == value:
            return index
    seen.append(value)
    return len(seen) - 1


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """ExportTraceServiceRequest bytes, grouped by resource then scope in first-seen order."""
    resources: list[Any] = []
    scopes: list[Any] = []
    by_id: dict[tuple[int, int], tuple[int, int]] = {}
    groups: dict[int, dict[int, list[bytes]]] = {}
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope or None
        ids = (id(resource), id(scope))
        key = by_id.get(ids)
        if key is None:
            key = by_id[ids] = (_canonical(resource, resources), _canonical(scope, scopes))
        try:
            encoded = _span(span)
        except (OverflowError, StructError) as error:  # a timestamp or id out of range: the SDK decides
            raise Unsupported(str(error)) from error
        groups.setdefault(key[0], {}).setdefault(key[1], []).append(encoded)
    out = []
    for resource_index, scope_groups in groups.items():
        resource = resources[resource_index]
        parts = [_field(b"\x0a", b"".join(_attributes(b"\x0a", resource.attributes)))]
        for scope_index, encoded_spans in scope_groups.items():
            scope = scopes[scope_index]
            scope_spans = [_field(b"\x0a", _scope(scope))]
            scope_spans += [_field(b"\x12", encoded) for encoded in encoded_spans]
            scope_spans.append(_string(b"\x1a", scope.schema_url if scope else None))
            parts.append(_field(b"\x12", b"".join(scope_spans)))
        parts.append(_string(b"\x1a", resource.schema_url))
        out.append(_field(b"\x0a", b"".join(parts)))
    return b"".join(out)
