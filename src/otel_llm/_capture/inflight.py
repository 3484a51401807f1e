"""The hops the proxy is serving, and LiteLLM's reports of them, routed away from the LLM path.

An MCP operation in flight (its record so far and its live span, opened by the proxy's MCP
middleware) is found through a context variable: LiteLLM awaits its tool-call logging inside the
operation, so its report lands in the same context and is merged into the operation's one record.
An A2A call's live span travels on LiteLLM's call details (where LiteLLM carries its own parent span),
so LiteLLM's report of the call, deferred until the response is sent, completes it. A report with
nothing in flight (LiteLLM's REST routes, a proxy without the middleware) is emitted on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

from opentelemetry.trace import Span

from .._emit.telemetry import Telemetry
from .._loop.guard import observe_tool
from .._record import McpOperationRecord
from .dedupe import SEEN
from .fields import text
from .hops import TOOL_ERROR, agent_from_payload, mcp_from_payload

# The key of an A2A call's live span in LiteLLM's call details (the callbacks' kwargs).
AGENT_SPAN_KEY: Final = "otel_llm_agent_span"


@dataclass
class Operation:
    """One MCP operation in flight: its record so far, its live span, and LiteLLM's report of it."""

    record: McpOperationRecord
    span: Span
    start_mono: float
    headers: Mapping[str, object]
    arguments: object = None
    reported: McpOperationRecord | None = None


OPERATION: Final[ContextVar[Operation | None]] = ContextVar("otel_llm_mcp_operation", default=None)


def current_operation() -> Operation | None:
    """The MCP operation the proxy is serving in this context, if any."""
    return OPERATION.get()


def report_hop(telemetry: Telemetry, hop: str, payload: Mapping[str, object], kwargs: Mapping[str, object]) -> None:
    """Turn LiteLLM's report of a hop into its record (once, however many callbacks or hook flavours fire)."""
    call_id = text(payload.get("litellm_call_id"), 256)
    if call_id is not None and not SEEN.first_time(f"{call_id}|{hop}|{payload.get('status')}"):
        return
    if hop == "mcp":
        _report_mcp(telemetry, payload, kwargs)
        return
    live = kwargs.get(AGENT_SPAN_KEY)
    telemetry.hops.agent(
        agent_from_payload(payload, kwargs, telemetry.config), live if isinstance(live, Span) else None
    )


def _report_mcp(telemetry: Telemetry, payload: Mapping[str, object], kwargs: Mapping[str, object]) -> None:
    reported = mcp_from_payload(payload, kwargs, telemetry.config)
    operation = current_operation()
    if operation is not None:
        if operation.record.method == reported.method and operation.reported is None:
            operation.reported = reported
        return  # LiteLLM's own inner listings are not operations the proxy served
    if reported.is_tool_call and reported.error_type in (None, TOOL_ERROR):
        observe_tool(reported, telemetry.config)
    telemetry.hops.mcp(reported)
