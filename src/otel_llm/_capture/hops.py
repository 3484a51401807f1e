"""LiteLLM's reports of the gateway's hops → records (pure functions): MCP tool calls and tool
listings, guardrail evaluations, agent-to-agent calls.

LiteLLM logs an MCP tool call (``call_mcp_tool``), a tool listing (``list_mcp_tools``) and an A2A
call (``asend_message``) through the same callbacks as an LLM call, with a model name like
``MCP: calc-add``: none of them is an LLM call, and none becomes an attempt record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from .._config import Config
from .._loop.fingerprint import tool_fingerprint
from .._record import AgentCallRecord, Attribution, GuardrailRecord, McpOperationRecord
from .._redact import scrub, server_of
from .._shapes import mapping
from .attribution import read_agent, read_attribution
from .fields import count, epoch_ns, money, strings, text
from .parent import carrier_from, metadata_of

MCP_CALL_TYPES: Final = {"call_mcp_tool": "tools/call", "list_mcp_tools": "tools/list"}
AGENT_CALL_TYPES: Final = frozenset({"send_message", "asend_message", "asend_message_streaming"})
_MODEL_PREFIX: Final = "MCP: "
_TOOL_RESULT_ERROR: Final = "MCPToolResultError"  # LiteLLM's failure for a result with isError
TOOL_ERROR: Final = "tool_error"  # error.type of a tool that answered with isError (MCP conventions)
LOOP_GUARD_MARK: Final = "otel-llm loop guard"


def hop_of(payload: Mapping[str, object]) -> str | None:
    """``mcp`` or ``agent`` for a hop LiteLLM reported through the LLM callbacks, else None."""
    call_type = payload.get("call_type")
    if call_type in MCP_CALL_TYPES:
        return "mcp"
    if call_type in AGENT_CALL_TYPES:
        return "agent"
    return None


def as_json(value: object, limit: int) -> str | None:
    """``value`` as JSON text, truncated to ``limit`` characters (content capture only)."""
    if value is None:
        return None
    try:
        encoded = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return None
    return encoded[:limit]


def refusal_reason(error_type: str | None, status: int | None, message: str | None, guarded: bool) -> str | None:
    """Why the proxy refused a tool or agent call before it ran, or None for a failure of the call itself."""
    if message and LOOP_GUARD_MARK in message:
        return "loop_guard"
    if guarded:
        return "guardrail"
    if status in (401, 403):
        return "permission"
    if status == 429:
        return "rate_limit"
    if error_type == "BudgetExceededError":
        return "budget"
    return None


def _guardrail_blocked(payload: Mapping[str, object]) -> bool:
    fields = mapping(payload.get("status_fields"))
    if fields.get("guardrail_status") == "guardrail_intervened":
        return True
    entries = payload.get("guardrail_information")
    return isinstance(entries, list) and any(
        mapping(e).get("guardrail_status") == "guardrail_intervened" for e in entries
    )


def _who(payload: Mapping[str, object], kwargs: Mapping[str, object], config: Config) -> Attribution:
    limit = config.attribute_max_length
    metadata = mapping(payload.get("metadata"))
    who = read_attribution(metadata, payload, limit)
    request_metadata = metadata_of(mapping(kwargs.get("litellm_params"))) or metadata_of(kwargs)
    who.agent_id, who.agent_name = read_agent(config.agent_from, request_metadata, metadata, who.tags, limit)
    return who


def mcp_from_payload(payload: object, kwargs: object, config: Config) -> McpOperationRecord:
    """What LiteLLM reported of one MCP operation (``call_mcp_tool`` or ``list_mcp_tools``)."""
    slo = mapping(payload)
    kw = mapping(kwargs)
    limit = config.attribute_max_length
    metadata = mapping(slo.get("metadata"))
    call = mapping(metadata.get("mcp_tool_call_metadata")) or mapping(kw.get("mcp_tool_call_metadata"))
    model = text(slo.get("model"), limit) or ""
    tool = model[len(_MODEL_PREFIX) :] if model.startswith(_MODEL_PREFIX) else ""
    record = McpOperationRecord(
        method=MCP_CALL_TYPES.get(str(slo.get("call_type")), "tools/call"),
        tool=tool or None,
        server=text(call.get("mcp_server_name"), limit),
        session_id=text(call.get("mcp_session_id"), limit),
        call_id=text(slo.get("litellm_call_id"), limit),
        conversation_id=text(slo.get("session_id"), limit),
        start_ns=epoch_ns(slo.get("startTime")),
        end_ns=epoch_ns(slo.get("endTime")),
        cost_usd=money(slo.get("response_cost")) or None,
        attribution=_who(slo, kw, config),
    )
    if record.method == "tools/list":
        record.tool = None
    failed = slo.get("status") == "failure" or bool(slo.get("error_str"))
    if failed:
        info = mapping(slo.get("error_information"))
        error_class = text(info.get("error_class"), limit) or "_OTHER"
        raw = info.get("error_code")
        status = int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) == 3 else count(raw)
        message = text(info.get("error_message"), limit) or text(slo.get("error_str"), limit)
        record.refusal = refusal_reason(error_class, status, message, _guardrail_blocked(slo))
        record.error_type = TOOL_ERROR if error_class == _TOOL_RESULT_ERROR else error_class
        record.status_code = status if status is not None and 100 <= status <= 599 else None
        record.error_message = scrub(message)[:limit] if message else None
        record.cost_usd = None  # LiteLLM prices no failed call
    if config.content_mode.enabled and record.method == "tools/call":
        record.arguments = as_json(call.get("arguments"), config.content_max_length)
        if not failed:
            record.result = as_json(slo.get("response"), config.content_max_length)
    if config.loop_mode != "off" and record.tool:
        record.fingerprint = tool_fingerprint(record.tool, call.get("arguments"))
    return record


def _decision(entry: Mapping[str, object]) -> str:
    """What the proxy did with the guarded content, from LiteLLM's status and summarised response."""
    status = entry.get("guardrail_status")
    if status == "guardrail_intervened":
        return "block"
    if status == "guardrail_flagged":
        return "flag"
    if status == "guardrail_failed_to_respond":
        return "error"
    if status == "not_run":
        return "not_run"
    response = entry.get("guardrail_response")
    masked = mapping(entry.get("masked_entity_count"))
    if response == "mask" or any(count(v) for v in masked.values()):
        return "mask"
    if isinstance(response, list) and any(str(mapping(item).get("action", "")).upper() == "MASK" for item in response):
        return "mask"
    return "pass"


def _mode_text(mode: object) -> str | None:
    """LiteLLM's guardrail mode: a hook name, an enum of one, a list of them, or a Mode object."""
    if isinstance(mode, (list, tuple)):
        return ",".join(filter(None, (_mode_text(m) for m in mode))) or None
    value = getattr(mode, "value", mode)
    return value if isinstance(value, str) and value else None


def guardrail_from_entry(
    entry: object, request_data: object, config: Config, now_ns: int | None = None
) -> GuardrailRecord | None:
    """The record of one guardrail evaluation from LiteLLM's ``StandardLoggingGuardrailInformation``
    and the guarded request (for who and for the trace when no span is current)."""
    info = mapping(entry)
    limit = config.attribute_max_length
    name = text(info.get("guardrail_name"), limit)
    if not name:
        return None
    data = mapping(request_data)
    metadata = metadata_of(data)
    # MCP guardrails see a synthetic request: the caller's ids sit beside its metadata.
    identity = {k: v for k, v in data.items() if isinstance(k, str) and k.startswith("user_api_key_")}
    who = read_attribution({**identity, **metadata}, data, limit)
    who.agent_id, who.agent_name = read_agent(config.agent_from, metadata, metadata, who.tags, limit)
    masked = mapping(info.get("masked_entity_count"))
    start_ns, end_ns = epoch_ns(info.get("start_time")), epoch_ns(info.get("end_time"))
    duration = money(info.get("duration"))
    if end_ns is None and duration is not None and now_ns is not None:
        end_ns = now_ns
    if start_ns is None and end_ns is not None and duration is not None:
        start_ns = end_ns - int(duration * 1e9)
    decision = _decision(info)
    status = text(info.get("guardrail_status"), limit)
    return GuardrailRecord(
        name=name,
        mode=_mode_text(info.get("guardrail_mode")),
        decision=decision,
        provider=text(info.get("guardrail_provider"), limit),
        policy_id=text(info.get("guardrail_id"), limit),
        status=status,
        categories=strings(info.get("violation_categories"), limit),
        masked_entities=sum(count(v) or 0 for v in masked.values()) or None,
        cost_usd=money(info.get("guardrail_cost")) or None,
        start_ns=start_ns,
        end_ns=end_ns,
        error_type=status if decision == "error" else None,
        call_id=text(data.get("litellm_call_id"), limit),
        attribution=who,
        parent_carrier=carrier_from(metadata),
    )


def agent_from_payload(payload: object, kwargs: object, config: Config) -> AgentCallRecord:
    """What LiteLLM reported of one agent-to-agent call it routed (``asend_message``)."""
    slo = mapping(payload)
    kw = mapping(kwargs)
    limit = config.attribute_max_length
    metadata = mapping(slo.get("metadata"))
    request_metadata = metadata_of(mapping(kw.get("litellm_params"))) or metadata_of(kw)
    model = text(slo.get("model"), limit) or ""
    agent_id = text(request_metadata.get("agent_id"), limit) or text(metadata.get("agent_id"), limit)
    record = AgentCallRecord(
        agent_id=agent_id or text(kw.get("agent_id"), limit),
        agent_name=model.partition("/")[2] or None,
        method="message/stream" if slo.get("call_type") == "asend_message_streaming" else "message/send",
        call_id=text(slo.get("litellm_call_id"), limit),
        start_ns=epoch_ns(slo.get("startTime")),
        end_ns=epoch_ns(slo.get("endTime")),
        conversation_id=text(mapping(mapping(slo.get("response")).get("result")).get("contextId"), limit),
        cost_usd=money(slo.get("response_cost")) or None,
        attribution=read_attribution(metadata, slo, limit),
        parent_carrier=carrier_from(request_metadata),
    )
    record.server_address, record.server_port = server_of(slo.get("api_base"), limit)
    # LiteLLM makes the routed agent the request's agent (invoked_agent_id, metadata.agent_id): the
    # agent per-agent attribution counts this call (and the calls the agent makes) for.
    record.attribution.agent_id, record.attribution.agent_name = record.agent_id, record.agent_name
    if slo.get("status") == "failure" or slo.get("error_str"):
        info = mapping(slo.get("error_information"))
        record.error_type = text(info.get("error_class"), limit) or "_OTHER"
        message = text(info.get("error_message"), limit) or text(slo.get("error_str"), limit)
        record.error_message = scrub(message)[:limit] if message else None
        record.cost_usd = None
    return record
