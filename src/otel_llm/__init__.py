"""otel-llm: production-grade OpenTelemetry for LiteLLM.

Three ways to use it:

* ``litellm.callbacks = [OtelLLMCallback()]``: the callback alone (SDK or proxy).
* ``LiteLLMInstrumentor().instrument()``: the callback plus live spans around every
  LiteLLM entry point, so provider HTTP spans nest under the LLM span and Router
  requests have one parent span over their attempts.
* ``opentelemetry-instrument python app.py``: the same, with no code change
  (entry point ``otel_llm``).

Spans and metrics follow the OpenTelemetry GenAI semantic conventions; what they lack
(cost, routing, accounting quality) lives under the ``otel_llm.`` namespace.
Prompt and completion content is captured only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` opts in.
"""

from ._loop.guard import LoopBlockedError
from ._version import __version__
from .callback import OtelLLMCallback
from .instrumentor import LiteLLMInstrumentor

__all__ = ["LiteLLMInstrumentor", "LoopBlockedError", "OtelLLMCallback", "__version__"]
