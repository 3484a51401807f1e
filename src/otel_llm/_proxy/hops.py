"""LiteLLM's reports of the gateway's hops (MCP operations, A2A calls), routed away from the LLM path."""

from __future__ import annotations

from collections.abc import Mapping

from .._capture.dedupe import SEEN
from .._capture.fields import text
from .._emit.telemetry import Telemetry
from . import agents, mcp


def report_hop(telemetry: Telemetry, hop: str, payload: Mapping[str, object], kwargs: Mapping[str, object]) -> None:
    """Turn one report into the hop's record (once, however many callbacks or hook flavours fire)."""
    call_id = text(payload.get("litellm_call_id"), 256)
    if call_id is not None and not SEEN.first_time(f"{call_id}|{hop}|{payload.get('status')}"):
        return
    if hop == "mcp":
        mcp.report(telemetry, payload, kwargs)
    else:
        agents.report(telemetry, payload, kwargs)
