"""A cap on distinct values per metric attribute, so no caller can explode a backend."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Final

from .._names import OVERFLOW_VALUE
from .attributes import AttributeValue

_log: Final = logging.getLogger("otel_llm")


# Attributes never rewritten when the series cap is reached: bounded by construction.
_ALWAYS_KEPT: Final = frozenset({"gen_ai.operation.name", "gen_ai.provider.name", "error.type", "gen_ai.token.type"})


class CardinalityLimiter:
    """Caps distinct values per attribute (later ones become _OTHER) and distinct combinations.

    Per-attribute caps alone still let combinations multiply (key × end user); past
    ``series_limit`` combinations, a new combination keeps only its bounded attributes
    and reports every other one as _OTHER.
    """

    def __init__(self, limit: int, series_limit: int = 1000) -> None:
        self._limit = limit
        self._series_limit = series_limit
        self._seen: dict[str, set[object]] = {}
        self._combinations: set[tuple[object, ...]] = set()
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
        combination = tuple(sorted(result.items()))
        if combination in self._combinations:
            return result
        with self._lock:
            if len(self._combinations) < self._series_limit:
                self._combinations.add(combination)
                return result
            warn = "(series)" not in self._warned
            self._warned.add("(series)")
        if warn:
            _log.warning(
                "otel-llm: metrics reached %d distinct attribute combinations; new combinations are reported "
                "with %s for all but operation, provider and error type. Raise OTEL_LLM_METRIC_SERIES_LIMIT or "
                "lower OTEL_LLM_METRIC_ATTRIBUTION if this is expected.",
                self._series_limit,
                OVERFLOW_VALUE,
            )
        return {k: (v if k in _ALWAYS_KEPT else OVERFLOW_VALUE) for k, v in result.items()}

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
