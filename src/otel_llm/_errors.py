"""The one boundary between telemetry bugs and the host application.

No exception raised while capturing or emitting telemetry may reach LiteLLM or the
caller. Each is logged (at most once a minute per component) and counted. Under tests,
strict mode re-raises, and keeps a list a fixture can assert empty: LiteLLM swallows
exceptions raised inside callbacks, so raising alone would let bugs hide there.

Code crosses the boundary in one of two ways: ``with boundary("emit.spans"):`` around a
block, or ``@guarded("callback")`` on a function (which then returns None on an error).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Final, ParamSpec, TypeVar

from . import _state, _validation

_log: Final = logging.getLogger("otel_llm")
_LOG_INTERVAL_S: Final = 60.0

_P = ParamSpec("_P")
_R = TypeVar("_R")

_lock: Final = threading.Lock()
_last_logged: dict[str, float] = {}
_counts: dict[str, int] = {}
_strict: bool = _validation.read("OTEL_LLM_RAISE_INTERNAL_ERRORS") is True
_seen_in_strict: list[BaseException] = []
# Where each error is counted: per destination (a meter provider or metric store), the sinks of
# the Telemetry objects writing there, held weakly (a dropped callback is released) and counted
# into by the first still alive (two Telemetry objects on one provider count an error once).
_count_sinks: weakref.WeakKeyDictionary[Any, list[weakref.WeakMethod[Callable[[str], None]]]] = (
    weakref.WeakKeyDictionary()
)


def set_strict(strict: bool) -> None:
    """Re-raise internal errors (tests) instead of logging them."""
    global _strict
    _strict = strict


def is_strict() -> bool:
    """Whether internal errors are re-raised (OTEL_LLM_RAISE_INTERNAL_ERRORS, or tests)."""
    return _strict


def take_strict_errors() -> list[BaseException]:
    """Return and clear the internal errors seen while strict (for test teardown)."""
    with _lock:
        errors = list(_seen_in_strict)
        _seen_in_strict.clear()
    return errors


def add_count_sink(sink: Callable[[str], None], destination: object) -> None:
    """Count every internal error's component with ``sink`` (a bound method, held weakly), once per
    ``destination`` however many sinks write to it."""
    with _lock:
        sinks = _count_sinks.setdefault(destination, [])
        sinks[:] = [ref for ref in sinks if ref() is not None and ref() != sink]
        sinks.append(weakref.WeakMethod(sink))


def remove_count_sink(sink: Callable[[str], None]) -> None:
    """Stop counting with ``sink``."""
    with _lock:
        for sinks in _count_sinks.values():
            sinks[:] = [ref for ref in sinks if ref() is not None and ref() != sink]


def _live_sinks() -> list[Callable[[str], None]]:
    live = []
    for sinks in list(_count_sinks.values()):
        for ref in sinks:
            sink = ref()
            if sink is not None:
                live.append(sink)
                break
    return live


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
        sinks = _live_sinks()
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


class _Boundary:
    """``with boundary(...)``: a plain context manager (no generator per use: it runs on every call).
    It keeps no state per use: one made once can guard a block on every call, in any thread."""

    __slots__ = ("_component", "_quiet", "_reraise")

    def __init__(self, component: str, reraise: bool, quiet: bool) -> None:
        self._component = component
        self._reraise = reraise
        self._quiet = quiet

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> bool:
        if not isinstance(error, Exception):  # none, or a BaseException (KeyboardInterrupt…): not ours to stop
            return False
        if self._quiet:
            return True
        if self._reraise:
            report(self._component, error)
            return True
        try:
            report(self._component, error)
        except Exception:  # noqa: BLE001  # strict mode re-raised it after recording it: stop here
            _log.debug("otel-llm: %s error kept for the strict check, not re-raised", self._component)
        return True


def boundary(component: str, *, reraise: bool = True, quiet: bool = False) -> _Boundary:
    """Run a block of telemetry code: an exception in it is reported (logged, counted) and goes no further.

    ``reraise=False``: not even in strict mode (threads that must keep running, the exit flush, an
    exporter that must not lose its batch); the error is still kept for the tests' teardown check.
    ``quiet``: swallowed without a word (a garbage collector's finalizer, which may not take the
    locks logging takes).
    """
    return _Boundary(component, reraise, quiet)


def guarded(component: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R | None]]:
    """Decorate a telemetry function: an exception in it is reported and the call returns None."""

    def decorate(function: Callable[_P, _R]) -> Callable[_P, _R | None]:
        @functools.wraps(function)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R | None:
            try:
                return function(*args, **kwargs)
            except Exception as error:  # noqa: BLE001  # the boundary: every telemetry error stops here
                report(component, error)
                return None

        return wrapper

    return decorate


def _reset() -> None:
    with _lock:
        _last_logged.clear()
        _counts.clear()
        _seen_in_strict.clear()


_state.register(
    "internal error counts",
    "an error is logged at most once a minute per component, whichever callback hit it",
    _reset,
)
