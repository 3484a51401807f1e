"""Credentials out of URL attributes on every span the proxy exports, including other
instrumentations' spans: FastAPI's SERVER span records the request's query string (a client may
send its virtual key as ``?key=``), HTTP client spans record provider URLs (``api_base`` may carry
``?key=`` or ``user:password@``).
"""

from __future__ import annotations

from typing import Final

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from .._redact import redact_query

# Where the OpenTelemetry HTTP conventions (current and older) put a URL or its query.
URL_ATTRIBUTES: Final = ("url.query", "url.full", "http.url", "http.target")


class UrlRedactingSpanProcessor(SpanProcessor):
    """Rewrites URL attributes as a span starts: first in line, so every exporter sees the result."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attributes = span.attributes
        if not attributes:
            return
        for name in URL_ATTRIBUTES:
            value = attributes.get(name)
            if isinstance(value, str) and ("=" in value or "@" in value):
                redacted = redact_query(value)
                if redacted != value:
                    span.set_attribute(name, redacted)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
