"""State of one logical Router request, shared by its attempts through the context."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Final

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from .._record import RouteStep

ROUTER_KEY: Final = context.create_key("otel_llm.router_request")


@dataclass
class RouterRequest:
    """Counts and outcome of one Router call; its span is the attempts' parent.

    ``owns_span`` is False when the Router request was folded into the proxy's SERVER span
    (see ``ServerSpanClaims``): that span is annotated, never ended, by the Router.
    """

    span: Span
    operation: str
    model_group: str | None
    owns_span: bool = True
    attempts: int = 0
    retries: int = 0
    fallbacks: int = 0
    served_model_group: str | None = None
    last_error: BaseException | None = None
    # Credentials of the attempts made (their deployments' keys): the Router's final error repeats
    # an attempt's message, so it is scrubbed of them too.
    secrets: tuple[str, ...] = ()
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note_attempt(self, step: RouteStep | None) -> None:
        with self.lock:
            self.attempts += 1
            if step is not None and step.kind == "retry":
                self.retries += 1
            elif step is not None:
                self.fallbacks += 1


def current(ctx: Context | None = None) -> RouterRequest | None:
    """The Router request ``ctx`` (the current context by default) runs in, if any."""
    value = context.get_value(ROUTER_KEY, ctx)
    return value if isinstance(value, RouterRequest) else None


class ServerSpanClaims:
    """The SERVER spans that already carry a Router request: the first Router call of a proxy
    request is folded into its SERVER span (one span fewer per request: no INTERNAL span that
    would last as long as the request), any further one in the same request gets its own span.

    Weak references: a span leaves the set when it is garbage, so the set is bounded by the
    spans alive (at most the requests in flight plus the span processor's queue).
    """

    def __init__(self) -> None:
        self._claimed: weakref.WeakSet[Span] = weakref.WeakSet()
        self._lock = threading.Lock()

    def claim_current(self) -> Span | None:
        """The current span if it is a recording SERVER span no Router request has claimed yet."""
        span = trace.get_current_span()
        if getattr(span, "kind", None) is not SpanKind.SERVER or not span.is_recording():
            return None
        with self._lock:
            if span in self._claimed:
                return None
            self._claimed.add(span)
        return span
