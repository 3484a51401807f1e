"""Every piece of process-wide state otel-llm keeps: listed in one place, reset in one call.

otel-llm keeps state beyond a callback's own only where LiteLLM's shape forces it. Each
holder registers here at import with why it must be process-wide and how to empty it;
``reset()`` empties them all (tests, ``otel_llm.testing.reset``), and ``holders()`` lists
them (ARCHITECTURE.md's table is checked against it). Everything else lives on a
``Telemetry`` (its instruments, limiter, metric store) or on a ``Config``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Holder:
    """One piece of process-wide state: its name, why it is not per callback, and its reset."""

    name: str
    why: str
    reset: Callable[[], None]


_lock: Final = threading.Lock()
_holders: dict[str, Holder] = {}


def register(name: str, why: str, reset: Callable[[], None]) -> None:
    """Declare a piece of process-wide state (once per name; a re-import replaces it)."""
    with _lock:
        _holders[name] = Holder(name, why, reset)


def holders() -> list[Holder]:
    """Every registered piece of process-wide state, in registration order."""
    with _lock:
        return list(_holders.values())


def reset() -> None:
    """Empty every piece of process-wide state (tests; never needed in production)."""
    for holder in holders():
        holder.reset()
