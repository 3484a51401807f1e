"""A cap on distinct values per metric attribute that forgets idle values and counts what it folds.

Without aging, a long-running gateway's first N keys would hold every slot forever and each
later key would be ``_OTHER``: its spend merged with strangers', its budget alert silenced. A
value not seen for ``idle_timeout_s`` releases its slot (its series age out of the metric
store on the same clock), and each point the cap folds into ``_OTHER`` is counted, by metric
and attribute, in ``otel_llm.metric.overflow`` (alerted on in collector/).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Final

from .._names import OVERFLOW_VALUE
from .instruments import AttributeValue

_log: Final = logging.getLogger("otel_llm")

# Attributes never capped: bounded by construction.
_ALWAYS_KEPT: Final = frozenset({"gen_ai.operation.name", "gen_ai.provider.name", "error.type", "gen_ai.token.type"})


class CardinalityLimiter:
    """At most ``limit`` distinct values per attribute among those seen within ``idle_timeout_s``."""

    def __init__(
        self,
        limit: int,
        idle_timeout_s: float,
        on_overflow: Callable[[str, str], None] | None = None,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._idle_s = idle_timeout_s
        self._on_overflow = on_overflow
        self._mono = mono
        # attribute → value → when last seen (monotonic seconds)
        self._seen: dict[str, dict[object, float]] = {}
        self._swept: dict[str, float] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        # Idle values are also forgotten every quarter of the timeout, so memory follows the
        # active values, not every value ever seen up to the cap.
        self._sweep_every_s = idle_timeout_s / 4
        self._last_sweep = mono()

    def set_overflow_counter(self, on_overflow: Callable[[str, str], None]) -> None:
        """Told (metric, attribute) of each value folded into _OTHER."""
        self._on_overflow = on_overflow

    def limit(self, attributes: Mapping[str, AttributeValue], metric: str = "") -> dict[str, AttributeValue]:
        """A copy of ``attributes`` with over-cap values replaced by _OTHER (each one counted for ``metric``)."""
        result, folded = self.apply(attributes)
        callback = self._on_overflow
        if callback is not None:
            for attribute in folded:
                callback(metric, attribute)
        return result

    def apply(self, attributes: Mapping[str, AttributeValue]) -> tuple[dict[str, AttributeValue], tuple[str, ...]]:
        """``attributes`` with over-cap values replaced by _OTHER, and the attributes so folded (not
        counted: for a caller that reuses the result and counts each point it records with it)."""
        result: dict[str, AttributeValue] = {}
        folded: list[str] = []
        now = self._mono()
        if now - self._last_sweep >= self._sweep_every_s:
            self._sweep(now)
        for key, value in attributes.items():
            if key in _ALWAYS_KEPT:
                result[key] = value
                continue
            seen = self._seen.get(key)
            if seen is not None and value in seen:
                seen[value] = now  # a plain dict write: atomic under the GIL
                result[key] = value
            elif self._admit(key, value, now):
                result[key] = value
            else:
                result[key] = OVERFLOW_VALUE
                folded.append(key)
        return result, tuple(folded)

    def admitted(self, attribute: str) -> int:
        """How many values of ``attribute`` hold a slot now."""
        with self._lock:
            return len(self._seen.get(attribute, ()))

    def _sweep(self, now: float) -> None:
        with self._lock:
            if now - self._last_sweep < self._sweep_every_s:
                return
            self._last_sweep = now
            for key, seen in self._seen.items():
                for stale in [v for v, last in list(seen.items()) if now - last > self._idle_s]:
                    del seen[stale]
                self._swept[key] = now

    def _admit(self, key: str, value: object, now: float) -> bool:
        with self._lock:
            seen = self._seen.setdefault(key, {})
            if value in seen:
                seen[value] = now
                return True
            if len(seen) >= self._limit and now - self._swept.get(key, -self._idle_s) >= min(self._idle_s, 60.0):
                # Full: free the slots of values idle past the timeout (at most once a minute per attribute).
                self._swept[key] = now
                for stale in [v for v, last in list(seen.items()) if now - last > self._idle_s]:
                    del seen[stale]
            if len(seen) < self._limit:
                seen[value] = now
                return True
            warn = key not in self._warned
            self._warned.add(key)
        if warn:
            _log.warning(
                "otel-llm: metric attribute %s has %d distinct values seen within OTEL_LLM_METRIC_IDLE_TIMEOUT "
                "(%.0f s); further values are reported as %s and counted in otel_llm.metric.overflow until some go "
                "idle. Raise OTEL_LLM_METRIC_ATTRIBUTE_VALUE_LIMIT if this is expected.",
                key,
                self._limit,
                self._idle_s,
                OVERFLOW_VALUE,
            )
        return False
