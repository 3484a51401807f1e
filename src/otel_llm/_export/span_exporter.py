"""The proxy's OTLP/HTTP span exporter: the SDK's, encoding with :mod:`.span_wire`.

Everything but the encoding is the SDK exporter's own: endpoint, headers, TLS, compression,
retries, timeouts, the request size limit and its ``otel.sdk.exporter.*`` metrics. The
encoder writes the bytes the SDK's would (~15 µs per proxy span instead of ~60, in the
exporter thread, where every microsecond is taken from the event loop through the GIL).
A batch the wire encoder does not handle is encoded by the SDK, and so is every batch
when the SDK exporter's internals are not the ones this was written against
(opentelemetry-exporter-otlp-proto-http 1.45): an upgrade costs speed, never spans.
Behind the proxy's ``span_queue.WireSpanProcessor`` the spans arrive encoded already (each as it
ended): the export frames them into one request and sends it, and any span still in a batch
goes the way above.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

from opentelemetry.exporter.otlp.proto.http import trace_exporter as _sdk
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE

from .. import _errors
from . import queue_items, span_wire

_log: Final = logging.getLogger("otel_llm")
_sdk_log: Final = logging.getLogger(_sdk.__name__)  # the SDK exporter's own messages keep its logger

try:  # the SDK exporter's helpers for its send path (1.45); without them its export runs whole
    from opentelemetry.exporter.otlp.proto.http._common import (
        RequestPayloadTooLargeError,
        _is_request_too_large,
    )

    _SEND_HELPERS: Final = True
except ImportError:  # pragma: no cover - older exporters
    _SEND_HELPERS = False  # type: ignore[misc]


def sdk_internals_known(exporter: Any) -> bool:
    """The SDK exporter's private parts the send path below uses, as of 1.45."""
    client = getattr(exporter, "_client", None)
    self_metrics = getattr(exporter, "_metrics", None)
    return (
        callable(getattr(client, "export", None))
        and callable(getattr(self_metrics, "export_operation", None))
        and isinstance(getattr(exporter, "_max_request_size", None), int)
        and isinstance(getattr(exporter, "_shutdown", None), bool)
        and _SEND_HELPERS
    )


class WireSpanExporter(_sdk.OTLPSpanExporter):
    """``OTLPSpanExporter`` (HTTP/protobuf) with otel-llm's span encoder."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wire_encoding = sdk_internals_known(self)
        if not self.wire_encoding:
            _log.info("otel-llm: this OTLP exporter version is not the one the span encoder knows; using the SDK's")

    def export(self, spans: Sequence[ReadableSpan | queue_items.Encoded]) -> SpanExportResult:
        """Export a batch of spans, of spans encoded when they ended (``span_queue``), or both."""
        ok = export_mixed(
            self, spans, "span", lambda rest: self._export_spans(rest) is SpanExportResult.SUCCESS, "span encoder"
        )
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def _export_spans(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.wire_encoding or self._shutdown:
            return super().export(spans)
        data = span_wire.encode_or_none(span_wire.encode_spans, spans, "span encoder")
        if data is None:
            return super().export(spans)
        return self._send(data, len(spans))

    def _send(self, data: bytes, count: int) -> SpanExportResult:
        return SpanExportResult.SUCCESS if send_encoded(self, data, count, "span") else SpanExportResult.FAILURE


def export_mixed(
    exporter: Any, batch: Sequence[Any], signal: str, export_rest: Callable[[Sequence[Any]], bool], component: str
) -> bool:
    """Export a batch of items encoded already (``queue_items.Encoded``: spans as they ended, log records
    as they were emitted), of SDK items, or of both, for an OTLP/HTTP exporter of ``signal``: the
    encoded ones framed into one request and sent with ``send_encoded``, the others through
    ``export_rest`` (the exporter's own way). A framing bug is reported under ``component`` and costs
    only the encoded items. True when every item was delivered."""
    encoded = [item for item in batch if queue_items.is_encoded(item)]
    if not encoded:
        return export_rest(batch)
    data: bytes | None = None
    with _errors.boundary(component, reraise=False):
        data = span_wire.encode_request(encoded)
    ok = data is not None and exporter._shutdown is False and send_encoded(exporter, data, len(encoded), signal)  # noqa: SLF001
    if len(encoded) < len(batch):
        ok = export_rest([item for item in batch if not queue_items.is_encoded(item)]) and ok
    return ok


def send_encoded(exporter: Any, data: bytes, count: int, signal: str) -> bool:
    """An OTLP/HTTP exporter's export after its encoding step (opentelemetry-exporter-otlp-proto-http
    1.45, the same for spans and logs): the request size limit, the send with its retries and the
    exporter's ``otel.sdk.exporter.*`` metrics. True when the batch was delivered."""
    with exporter._metrics.export_operation(count) as result:  # noqa: SLF001  # checked by sdk_internals_known
        limit = exporter._max_request_size  # noqa: SLF001
        if _is_request_too_large(data, limit):
            _sdk_log.warning(
                "Dropping %s batch: serialized size %d bytes exceeds max_request_size %d bytes.",
                signal,
                len(data),
                limit,
            )
            result.error = RequestPayloadTooLargeError(
                f"Serialized {signal} request size {len(data)} bytes exceeds max_request_size {limit} bytes."
            )
            return False
        sent = exporter._client.export(data)  # noqa: SLF001
        if not sent.success:
            result.error = sent.error
            result.error_attrs = {HTTP_RESPONSE_STATUS_CODE: sent.status_code} if sent.status_code is not None else None
            return False
    return True
