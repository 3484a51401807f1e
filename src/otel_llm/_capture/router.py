"""State of one logical Router request, shared by its attempts through the context."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Final

from opentelemetry import context
from opentelemetry.trace import Span

from .._record import RouteStep

ROUTER_KEY: Final = context.create_key("otel_llm.router_request")


@dataclass
class RouterRequest:
    """Counts and outcome of one Router call; its span is the attempts' parent."""

    span: Span
    operation: str
    model_group: str | None
    attempts: int = 0
    retries: int = 0
    fallbacks: int = 0
    served_model_group: str | None = None
    last_error: BaseException | None = None
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note_attempt(self, step: RouteStep | None) -> None:
        with self.lock:
            self.attempts += 1
            if step is not None and step.kind == "retry":
                self.retries += 1
            elif step is not None:
                self.fallbacks += 1


def current() -> RouterRequest | None:
    value = context.get_value(ROUTER_KEY)
    return value if isinstance(value, RouterRequest) else None
