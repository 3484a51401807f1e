"""``LiteLLMInstrumentor``: zero-code and one-line instrumentation of LiteLLM.

``instrument()`` registers an :class:`~otel_llm.OtelLLMCallback` with LiteLLM and wraps
its entry points (completion, embedding, text_completion, responses, image, speech,
transcription, rerank, anthropic messages, and the Router's request methods) so each
call's span is live while LiteLLM runs: provider HTTP spans and nested calls become its
children, and a Router request becomes one parent span over its attempts.
``uninstrument()`` restores every patch and removes the callback from all of LiteLLM's
callback lists.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]  # re-exported without __all__

from .callback import OtelLLMCallback
from .package import _instruments

__all__ = ["LiteLLMInstrumentor"]

# BaseInstrumentor is a per-class singleton whose __init__ re-runs on every
# construction: the state of the one instrumentation lives here, not on the instance.
_state: dict[str, Any] = {}


class LiteLLMInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # opentelemetry-instrumentation is untyped
    """An OpenTelemetry instrumentor for LiteLLM (entry point name ``otel_llm``)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """The LiteLLM versions this instruments (``otel_llm.package``)."""
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        import litellm  # noqa: PLC0415  # imported only when instrumenting

        from ._capture.patching import Patcher  # noqa: PLC0415

        callback = kwargs.get("callback")
        if not isinstance(callback, OtelLLMCallback):
            callback = OtelLLMCallback(
                tracer_provider=kwargs.get("tracer_provider"),
                meter_provider=kwargs.get("meter_provider"),
                logger_provider=kwargs.get("logger_provider"),
                capture_content=kwargs.get("capture_content"),
            )
        patcher = Patcher()
        patcher.patch(callback.telemetry)
        # Appended directly: LiteLLM's manager skips an instance "equal" to one already listed.
        if callback not in litellm.callbacks:
            litellm.callbacks.append(callback)
        _state["callback"] = callback
        _state["patcher"] = patcher

    def _uninstrument(self, **kwargs: Any) -> None:
        import litellm  # noqa: PLC0415

        patcher = _state.pop("patcher", None)
        if patcher is not None:
            patcher.unpatch()
        callback = _state.pop("callback", None)
        if callback is not None:
            _remove_callback(litellm, callback)
            callback.telemetry.close()

    @property
    def callback(self) -> OtelLLMCallback | None:
        """The callback registered by ``instrument()`` (None when not instrumented)."""
        return _state.get("callback")


def _remove_callback(litellm: Any, callback: OtelLLMCallback) -> None:
    manager = getattr(litellm, "logging_callback_manager", None)
    remove = getattr(manager, "remove_callback_from_all_lists", None)
    if callable(remove):
        remove(callback)
    # Older LiteLLM versions, or lists the manager does not know about.
    for name in (
        "callbacks",
        "success_callback",
        "failure_callback",
        "_async_success_callback",
        "_async_failure_callback",
    ):
        callbacks = getattr(litellm, name, None)
        if isinstance(callbacks, list):
            while callback in callbacks:
                callbacks.remove(callback)
