"""Helpers for your own tests of code that calls LiteLLM with otel-llm.

LiteLLM reports a call after it returns (sync callbacks on a thread pool, async ones on a
queue its event loop drains), so a test that asserts on spans or metrics right after a call
sees nothing yet. ``wait_for_reports`` waits, bounded, until LiteLLM has reported every call
otel-llm is waiting for; ``reset`` empties otel-llm's process-wide state between tests::

    import otel_llm.testing

    def test_my_agent(span_exporter):
        my_agent.run()
        assert otel_llm.testing.wait_for_reports(timeout=10)
        assert span_exporter.get_finished_spans()

    @pytest.fixture(autouse=True)
    def _otel_llm_state():
        yield
        otel_llm.testing.reset()

An async test must not block its own event loop while waiting (LiteLLM's async callbacks run
on it): ``await asyncio.to_thread(otel_llm.testing.wait_for_reports)``.
"""

from __future__ import annotations

import time

from . import _state

__all__ = ["reset", "wait_for_reports"]


def reset() -> None:
    """Empty otel-llm's process-wide state: calls waiting for LiteLLM's report (unfinished), reported
    call ids, loop windows, the key-hash salt, logged setting problems, internal error counts.
    Instrumentors and callbacks stay as they are (uninstrument them yourself)."""
    _state.reset()


def wait_for_reports(timeout: float = 10.0) -> bool:
    """Wait until LiteLLM has reported every call otel-llm is waiting for and its callback thread pool
    is idle; True when it has, False at the timeout."""
    from ._capture.live import REGISTRY  # noqa: PLC0415
    from ._lifecycle import _litellm_executor_idle  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while True:
        if len(REGISTRY) == 0 and _litellm_executor_idle() and _logging_queue_empty():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def _logging_queue_empty() -> bool:
    """LiteLLM's queue of async callback work (its logging worker) is empty, as far as it says."""
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER  # noqa: PLC0415
    except Exception:  # noqa: BLE001  # older LiteLLM: no logging worker
        return True
    queue = getattr(GLOBAL_LOGGING_WORKER, "_queue", None)
    size = getattr(queue, "qsize", None)
    return not callable(size) or size() == 0
