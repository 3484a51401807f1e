"""Guardrail evaluations: one span and one record each, the moment LiteLLM records it.

Every guardrail LiteLLM runs (pre, during and post call, MCP pre and post call, its own content
filter, custom-code guardrails, partner guardrails) ends in
``CustomGuardrail.add_standard_logging_guardrail_information_to_request_data``, which appends the
evaluation (name, mode, status, times, masked entities, categories) to the request's metadata: the
point LiteLLM's own OpenTelemetry engine emits its guardrail spans from. otel-llm wraps it: LiteLLM's
method runs first, unchanged, its exceptions untouched; then the entry it appended becomes a record,
in the guarded request's context (its span the current one: the HTTP request's, or the MCP tool
call's), and never an exception of ours reaches the guardrail.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

import wrapt
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from .. import _errors
from .._capture.hops import guardrail_from_entry
from .._capture.inflight import current_operation
from .._emit.telemetry import Telemetry
from .._shapes import mapping
from .mcp import caller

GUARDRAIL_MODULE: Final = "litellm.integrations.custom_guardrail"
_CLASS: Final = "CustomGuardrail"
_METHOD: Final = "add_standard_logging_guardrail_information_to_request_data"
_ENTRIES: Final = "standard_logging_guardrail_information"


def _appended_entry(request_data: Mapping[str, object], guardrail_name: object) -> Mapping[str, object]:
    """The evaluation LiteLLM just appended to the request's metadata (the last one, of this guardrail)."""
    for key in ("metadata", "litellm_metadata"):
        entries = mapping(request_data.get(key)).get(_ENTRIES)
        if isinstance(entries, list) and entries:
            last = mapping(entries[-1])
            if last.get("guardrail_name") == guardrail_name:
                return last
    return {}


class GuardrailTelemetry:
    """Wraps LiteLLM's guardrail recording (``install``; ``remove`` restores it)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._owner: Any = None
        self._original: Any = None

    def install(self) -> None:
        """Wrap now if LiteLLM's guardrail module is imported, else as soon as it is."""
        wrapt.register_post_import_hook(self._patch, GUARDRAIL_MODULE)

    def _patch(self, module: Any) -> None:
        owner = getattr(module, _CLASS, None)
        original = vars(owner).get(_METHOD) if isinstance(owner, type) else None
        if original is None or isinstance(original, wrapt.FunctionWrapper) or self._owner is not None:
            return
        self._owner, self._original = owner, original
        setattr(owner, _METHOD, wrapt.FunctionWrapper(original, self._wrapper))

    def remove(self) -> None:
        """Put LiteLLM's method back."""
        if self._owner is not None:
            setattr(self._owner, _METHOD, self._original)
            self._owner = self._original = None

    def _wrapper(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        if is_instrumentation_enabled():
            with _errors.boundary("proxy.guardrail"):
                self._report(instance, args, kwargs)
        return result

    def _report(self, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        # LiteLLM's signature: (guardrail_json_response, request_data, guardrail_status, ...).
        request_data = mapping(kwargs.get("request_data", args[1] if len(args) > 1 else None))
        entry = _appended_entry(request_data, getattr(instance, "guardrail_name", None))
        config = self.telemetry.config
        record = guardrail_from_entry(entry, request_data, config, now_ns=time.time_ns())
        if record is None:
            return
        if not record.attribution.key_hash and current_operation() is not None:
            # An MCP guardrail sees a synthetic request without the key: the MCP request's caller.
            record.attribution = caller(config.attribute_max_length)
        self.telemetry.hops.guardrail(record)
