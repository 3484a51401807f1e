"""Calls already reported, so a second callback instance or a double fire emits nothing."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

from .. import _state

_LIMIT: Final = 20000


class SeenCalls:
    """A bounded, thread-safe set of LiteLLM call ids (oldest forgotten first)."""

    def __init__(self, limit: int = _LIMIT) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def first_time(self, call_id: str) -> bool:
        """True the first time a call id is seen."""
        with self._lock:
            if call_id in self._ids:
                return False
            self._ids[call_id] = None
            if len(self._ids) > self._limit:
                self._ids.popitem(last=False)
            return True

    def clear(self) -> None:
        """Forget every call id."""
        with self._lock:
            self._ids.clear()


SEEN: Final = SeenCalls()
_state.register(
    "reported calls",
    "LiteLLM may report one call to several callback instances and hook flavours: one is emitted",
    SEEN.clear,
)
