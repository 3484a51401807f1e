"""A cap on distinct values per metric attribute, so no caller can explode a backend."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Final

from .._names import OVERFLOW_VALUE
from .attributes import AttributeValue

_log: Final = logging.getLogger("otel_llm")


class CardinalityLimiter:
    """Keeps the first ``limit`` distinct values of each attribute; later ones become _OTHER."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: dict[str, set[object]] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def limit(self, attributes: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
        """A copy of ``attributes`` with over-cap values replaced by the overflow value."""
        result: dict[str, AttributeValue] = {}
        for key, value in attributes.items():
            seen = self._seen.get(key)
            if seen is not None and value in seen:
                result[key] = value
            else:
                result[key] = value if self._admit(key, value) else OVERFLOW_VALUE
        return result

    def _admit(self, key: str, value: object) -> bool:
        with self._lock:
            seen = self._seen.setdefault(key, set())
            if value in seen:
                return True
            if len(seen) < self._limit:
                seen.add(value)
                return True
            warn = key not in self._warned
            self._warned.add(key)
        if warn:
            _log.warning(
                "otel-llm: metric attribute %s reached %d distinct values; further values are reported as %s. "
                "Raise OTEL_LLM_METRIC_ATTRIBUTE_VALUE_LIMIT if this is expected.",
                key,
                self._limit,
                OVERFLOW_VALUE,
            )
        return False
