"""Proxy request spans (SERVER), opened in the pre-call hook and ended by the post-call hooks.

The span's context travels to the Router and attempt spans through the request
metadata (W3C headers), because the hooks' context does not reach LiteLLM's call.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Final

from opentelemetry.trace import Span, Status, StatusCode

from .. import _names as n

_LIMIT: Final = 10000
_MAX_AGE_S: Final = 900.0


class RequestSpans:
    """Open proxy request spans by LiteLLM call id; bounded, and aged out."""

    def __init__(self) -> None:
        self._spans: OrderedDict[str, tuple[Span, float]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, call_id: str, span: Span) -> None:
        now = time.monotonic()
        expired: list[Span] = []
        with self._lock:
            self._spans[call_id] = (span, now)
            while self._spans:
                oldest_id, (oldest, started) = next(iter(self._spans.items()))
                if len(self._spans) <= _LIMIT and now - started < _MAX_AGE_S:
                    break
                del self._spans[oldest_id]
                expired.append(oldest)
        for stale in expired:
            stale.set_attribute(n.SPAN_INCOMPLETE, True)
            stale.end()

    def pop(self, call_id: object) -> Span | None:
        if not isinstance(call_id, str):
            return None
        with self._lock:
            entry = self._spans.pop(call_id, None)
        return entry[0] if entry else None


def end_request_span(span: Span, status_code: int, error: BaseException | None) -> None:
    """End a proxy request span with the HTTP status the client got."""
    span.set_attribute("http.response.status_code", status_code)
    if error is not None:
        span.set_attribute(n.ERROR_TYPE, type(error).__name__)
    if status_code >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()
