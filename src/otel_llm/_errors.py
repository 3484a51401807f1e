"""The one boundary between telemetry bugs and the host application.

No exception raised while capturing or emitting telemetry may reach LiteLLM or the
caller. Each is logged (at most once a minute per component) and counted. Under tests,
strict mode re-raises, and keeps a list a fixture can assert empty: LiteLLM swallows
exceptions raised inside callbacks, so raising alone would let bugs hide there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from . import _settings

_log: Final = logging.getLogger("otel_llm")
_LOG_INTERVAL_S: Final = 60.0

_lock: Final = threading.Lock()
_last_logged: dict[str, float] = {}
_counts: dict[str, int] = {}
_strict: bool = _settings.read("OTEL_LLM_RAISE_INTERNAL_ERRORS") is True
_seen_in_strict: list[BaseException] = []
_count_sinks: list[Callable[[str], None]] = []


def set_strict(strict: bool) -> None:
    """Re-raise internal errors (tests) instead of logging them."""
    global _strict
    _strict = strict


def is_strict() -> bool:
    return _strict


def take_strict_errors() -> list[BaseException]:
    """Return and clear the internal errors seen while strict (for test teardown)."""
    with _lock:
        errors = list(_seen_in_strict)
        _seen_in_strict.clear()
    return errors


def add_count_sink(sink: Callable[[str], None]) -> None:
    """Register a function told of every internal error's component (the metric)."""
    with _lock:
        if sink not in _count_sinks:
            _count_sinks.append(sink)


def remove_count_sink(sink: Callable[[str], None]) -> None:
    with _lock:
        if sink in _count_sinks:
            _count_sinks.remove(sink)


def internal_error_count(component: str | None = None) -> int:
    """How many internal errors were seen (in total or for one component)."""
    with _lock:
        if component is None:
            return sum(_counts.values())
        return _counts.get(component, 0)


def report(component: str, error: BaseException) -> None:
    """Log (rate-limited) and count an internal error; re-raise when strict."""
    # In strict mode the re-raised error crosses outer boundaries: count it only once.
    if getattr(error, "_otel_llm_reported", False):
        if _strict:
            raise error
        return
    try:
        setattr(error, "_otel_llm_reported", True)  # noqa: B010  # a marker on the exception object
    except Exception:  # noqa: BLE001  # exceptions with __slots__ cannot take the marker
        _log.debug("otel-llm: cannot mark %r as reported", type(error))
    now = time.monotonic()
    with _lock:
        _counts[component] = _counts.get(component, 0) + 1
        due = now - _last_logged.get(component, -_LOG_INTERVAL_S) >= _LOG_INTERVAL_S
        if due:
            _last_logged[component] = now
        sinks = list(_count_sinks)
        if _strict:
            _seen_in_strict.append(error)
    for sink in sinks:
        try:
            sink(component)
        except Exception:  # noqa: BLE001  # the counter itself failing must not recurse
            _log.debug("otel-llm: internal error counter failed", exc_info=True)
    if due:
        _log.warning(
            "otel-llm: internal error in %s; your LLM call still ran, with less telemetry. "
            "Further errors here are counted in otel_llm.internal.errors and logged once a minute.",
            component,
            exc_info=error,
        )
    if _strict:
        raise error
