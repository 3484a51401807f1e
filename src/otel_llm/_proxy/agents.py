"""Agent-to-agent (A2A) calls the proxy routes: one ``invoke_agent {agent}`` span each.

The proxy's ``/a2a/{agent}`` route calls ``litellm.a2a_protocol.asend_message``; otel-llm wraps it
so the span is live while the agent runs (the A2A client's own spans and the agent's, which
continue the trace, nest under it). LiteLLM's report of the call (who, the agent, the outcome, a
cost) completes that span: it travels on the call's details, where LiteLLM carries its own span.
A streamed A2A call, or one made outside the proxy, is reported with a span written from the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Span, SpanKind

from .. import _errors
from .. import _names as n
from .._capture.fields import text
from .._capture.inflight import AGENT_SPAN_KEY
from .._emit.telemetry import Telemetry
from .._redact import server_of

A2A_MODULE: Final = "litellm.a2a_protocol"
_ENTRY: Final = "asend_message"
_MODEL_PREFIX: Final = "a2a_agent/"


class AgentTelemetry:
    """Wraps LiteLLM's A2A entry point (``install``; ``remove`` restores it)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._module: Any = None
        self._original: Any = None

    def install(self) -> None:
        """Wrap now if LiteLLM's A2A module is imported, else as soon as it is."""
        wrapt.register_post_import_hook(self._patch, A2A_MODULE)

    def _patch(self, module: Any) -> None:
        original = getattr(module, _ENTRY, None)
        if original is None or isinstance(original, wrapt.FunctionWrapper) or self._module is not None:
            return
        self._module, self._original = module, original
        setattr(module, _ENTRY, wrapt.FunctionWrapper(original, self._wrapper))

    def remove(self) -> None:
        """Put LiteLLM's entry point back."""
        if self._module is not None:
            setattr(self._module, _ENTRY, self._original)
            self._module = self._original = None

    def _wrapper(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        span = self._start(kwargs)
        if span is None:
            return wrapped(*args, **kwargs)
        return self._call(span, wrapped, args, kwargs)

    async def _call(self, span: Span, wrapped: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            return await wrapped(*args, **kwargs)

    @_errors.guarded("proxy.a2a")
    def _start(self, kwargs: Mapping[str, Any]) -> Span | None:
        if not is_instrumentation_enabled():
            return None
        limit = self.telemetry.config.attribute_max_length
        details = getattr(kwargs.get("litellm_logging_obj"), "model_call_details", None)
        if not isinstance(details, dict):
            return None
        model = text(kwargs.get("model"), limit) or ""
        name = model.removeprefix(_MODEL_PREFIX) or text(kwargs.get("agent_id"), limit)
        attributes: dict[str, str | int] = {n.GEN_AI_OPERATION_NAME: n.OPERATION_INVOKE_AGENT}
        address, port = server_of(kwargs.get("api_base"), limit)
        if address:
            attributes[n.SERVER_ADDRESS] = address
        if port:
            attributes[n.SERVER_PORT] = port
        span = self.telemetry.tracer.start_span(
            f"{n.OPERATION_INVOKE_AGENT} {name}" if name else n.OPERATION_INVOKE_AGENT,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        # LiteLLM's report of the call (its callbacks' kwargs are these details) completes the span.
        details[AGENT_SPAN_KEY] = span
        return span
