"""otel-llm: production-grade OpenTelemetry for LiteLLM.

Four ways to use it:

* ``otel_llm.setup(service_name="my-agent")``: otel-llm builds the process's OpenTelemetry
  pipeline from the ``OTEL_*`` environment (OTLP to a Collector, on otel-llm's lean path) and
  instruments LiteLLM; for applications that have not configured OpenTelemetry themselves.
* ``litellm.callbacks = [OtelLLMCallback()]``: the callback alone (SDK or proxy).
* ``LiteLLMInstrumentor().instrument()``: the callback plus live spans around every
  LiteLLM entry point, so provider HTTP spans nest under the LLM span and Router
  requests have one parent span over their attempts.
* ``opentelemetry-instrument python app.py``: the same, with no code change
  (entry point ``otel_llm``).

For the LiteLLM proxy: ``litellm_settings: callbacks: ["otel_llm.proxy.callback"]``.

Spans and metrics follow the OpenTelemetry GenAI semantic conventions; what they lack
(cost, routing, attribution, headroom, loops) lives under the ``otel_llm.`` namespace.
Prompt and completion content is captured only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` opts in.

Importing the package is cheap: LiteLLM is imported when one of these names is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._loop.guard import LoopBlockedError
    from .callback import OtelLLMCallback
    from .instrumentor import LiteLLMInstrumentor
    from .pipeline import setup

__all__ = ["LiteLLMInstrumentor", "LoopBlockedError", "OtelLLMCallback", "__version__", "setup"]

_LAZY = {
    "LiteLLMInstrumentor": ".instrumentor",
    "OtelLLMCallback": ".callback",
    "LoopBlockedError": "._loop.guard",
    "setup": ".pipeline",
}


def __getattr__(name: str) -> Any:
    # PEP 562: the callback subclasses LiteLLM's CustomLogger, so importing it imports LiteLLM.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
