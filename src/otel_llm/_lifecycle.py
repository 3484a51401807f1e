"""Exit flush: the last calls of a short script still reach the exporters.

LiteLLM reports calls after they return, from a thread pool and an async queue that
it drains in its own ``atexit`` hook, registered at import, which therefore runs
*after* the OpenTelemetry SDK's shutdown hook. ``atexit`` runs hooks last-in first-out:
ours is registered when a callback is built and moved last when the first call starts
(after any provider the application set up), so it runs first: drain LiteLLM, finish
live spans, flush the providers.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Final

from . import _errors

if TYPE_CHECKING:
    from ._emit.telemetry import Telemetry

_log: Final = logging.getLogger("otel_llm")
_lock: Final = threading.Lock()
_telemetries: weakref.WeakSet[Telemetry] = weakref.WeakSet()
_armed_at_first_call = False


def watch(telemetry: Telemetry) -> None:
    """Flush this telemetry's providers at exit."""
    with _lock:
        _telemetries.add(telemetry)
    _register()


def _register() -> None:
    atexit.unregister(flush_at_exit)
    atexit.register(flush_at_exit)


def arm() -> None:
    """At the first call: move the exit hook after every provider's, so it runs first."""
    global _armed_at_first_call
    if _armed_at_first_call:
        return
    with _lock:
        if _armed_at_first_call:
            return
        _armed_at_first_call = True
    _register()


def _litellm_executor_idle() -> bool:
    try:
        from litellm.litellm_core_utils.thread_pool_executor import executor  # noqa: PLC0415
    except Exception:  # noqa: BLE001  # older LiteLLM: no bounded executor to wait for
        return True
    slots = getattr(executor, "_pending_slots", None)
    limit = getattr(executor, "_max_pending_tasks", None)
    value = getattr(slots, "_value", None)
    if not isinstance(limit, int) or not isinstance(value, int):
        return True
    return value >= limit


def drain_litellm(timeout_s: float) -> None:
    """Run LiteLLM's queued async callbacks and wait (bounded) for its sync ones."""
    deadline = time.monotonic() + timeout_s
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER  # noqa: PLC0415

        # LiteLLM's own drain, run before the SDK shuts down (it is idempotent).
        flush = getattr(GLOBAL_LOGGING_WORKER, "_flush_on_exit", None)
        if callable(flush):
            flush()
    except Exception as error:  # noqa: BLE001
        _log.debug("otel-llm: LiteLLM logging worker drain failed: %r", error)
    while time.monotonic() < deadline and not _litellm_executor_idle():
        time.sleep(0.01)


def flush_at_exit() -> None:
    """Drain LiteLLM, finish live spans, and flush every watched provider."""
    from ._capture.live import REGISTRY  # noqa: PLC0415

    with _errors.boundary("lifecycle.exit", reraise=False):  # never fail interpreter exit
        telemetries = list(_telemetries)
        timeout = max((t.config.exit_timeout_s for t in telemetries), default=5.0)
        drain_litellm(timeout)
        REGISTRY.finish_all()
        for telemetry in telemetries:
            telemetry.force_flush(timeout_ms=int(timeout * 1000))
