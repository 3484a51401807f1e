"""The span processor otel-llm builds for the proxy: spans encoded when they end, queued as bytes.

``WireSpanProcessor`` is the SDK's ``BatchSpanProcessor`` (queue, batches, worker thread, fork
handling, drop counting, ``otel.sdk.processor.span.*`` metrics) with one step moved: a sampled
span is encoded by :mod:`.span_wire` as it ends and the queue holds its bytes (a
``queue_items.Encoded``: the bytes and the number of its resource and scope, a tuple the garbage
collector untracks) instead of the span. The span, its attribute dict, its context and its lock
then die with the request instead of waiting in the queue for the next batch (up to the
schedule delay, 5 s by default), where LiteLLM's garbage collector found them alive at its
generation-1 collections and promoted them, which brings LiteLLM's costly full collections
closer. ``WireSpanExporter`` sends batches of encoded spans with the SDK exporter's own send path.
It is the log pipeline's design (``wire_logs.py``), applied to spans.

Only with an exporter that sends encoded spans (``wire_encoding``: otel-llm's OTLP/HTTP exporter
on the SDK version it knows, possibly behind the export guard); with any other it is the SDK's
processor unchanged. A span the wire encoder does not handle (a value only the SDK decides about,
a timestamp out of range) is queued as the span and encoded by the SDK at export, so nothing is
lost or encoded differently (tests/test_span_wire.py compares the bytes with the SDK's).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from .queue_items import encoded
from .span_wire import encode_or_none, encode_span


class WireSpanProcessor(BatchSpanProcessor):
    """``BatchSpanProcessor`` whose queue holds each sampled span encoded (an ``Encoded``)."""

    def __init__(self, exporter: SpanExporter, **kwargs: Any) -> None:
        super().__init__(exporter, **kwargs)
        batch = getattr(self, "_batch_processor", None)
        self._emit = getattr(batch, "emit", None)  # the SDK's queue (1.45); without it, the SDK's way
        self.wire = bool(getattr(exporter, "wire_encoding", False) and callable(self._emit))

    def on_end(self, span: ReadableSpan) -> None:
        if not self.wire:
            super().on_end(span)
            return
        if not (span.context and span.context.trace_flags.sampled):
            return
        data = encode_or_none(encode_span, span, "span encoder")
        if data is None:
            super().on_end(span)
            return
        self._emit(encoded(span.resource, span.instrumentation_scope, data))  # type: ignore[misc]
