"""Where the caller's trace context is found when no span is current (the LiteLLM proxy
without server instrumentation): the proxy request span otel-llm opened, or the W3C
``traceparent`` header LiteLLM keeps in the request metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from .._shapes import mapping

PARENT_KEY: Final = "otel_llm_parent"  # metadata key the proxy pre-call hook writes
_PROPAGATION_HEADERS: Final = ("traceparent", "tracestate", "baggage")


def metadata_of(kwargs: Mapping[str, object]) -> Mapping[str, object]:
    """The request metadata of a LiteLLM call (``metadata`` or ``litellm_metadata``)."""
    return mapping(kwargs.get("metadata")) or mapping(kwargs.get("litellm_metadata"))


def carrier_from(metadata: Mapping[str, object]) -> dict[str, str] | None:
    """Propagation headers for this request, if the proxy recorded any."""
    if not metadata:
        return None
    for source in (mapping(metadata.get(PARENT_KEY)), mapping(metadata.get("headers"))):
        carrier = {
            key.lower(): value
            for key, value in source.items()
            if isinstance(key, str) and isinstance(value, str) and key.lower() in _PROPAGATION_HEADERS
        }
        if "traceparent" in carrier:
            return carrier
    return None
