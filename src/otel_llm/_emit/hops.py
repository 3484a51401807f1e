"""Records of the gateway's hops → spans and metric points: MCP operations and tool calls,
guardrail evaluations, agent-to-agent calls.

None of them is an LLM call: they never reach the GenAI client metrics. Histograms carry the
group attribution only (team, org, agent), counters everyone a call is attributed to, as for
LLM attempts; every value passes the cardinality limiter. A refused tool or agent call is a
proxy refusal (``otel_llm.proxy.refusals``), never a failure of the tool or the agent.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from .. import _names as n
from .._config import Config
from .._record import AgentCallRecord, GuardrailRecord, McpOperationRecord
from .attributes import AttributeValue, who_attributes, who_span_attributes
from .cardinality import CardinalityLimiter
from .instruments import AttrSet, Instruments, Recorder
from .metrics import GROUP_ATTRIBUTION, loop_attributes, refused
from .spans import context_when_detached, loop_event_attributes

# The proxy serves MCP over HTTP (streamable HTTP or SSE): the client's transport, per the conventions.
_CLIENT_TRANSPORT = "tcp"


def mcp_span_name(method: str, tool: str | None, prompt: str | None = None) -> str:
    """``execute_tool {tool}`` for a tool call (the GenAI conventions' tool span), else the MCP
    conventions' ``{mcp.method.name} {target}``."""
    if method == "tools/call":
        return f"{n.OPERATION_EXECUTE_TOOL} {tool}" if tool else n.OPERATION_EXECUTE_TOOL
    return f"{method} {prompt}" if prompt else method


def _present(pairs: tuple[tuple[str, AttributeValue | None], ...]) -> dict[str, AttributeValue]:
    return {key: value for key, value in pairs if value is not None and value != ""}


def mcp_span_attributes(record: McpOperationRecord, content_on_spans: bool) -> dict[str, AttributeValue]:
    """Every attribute of an MCP operation's span (tool arguments and results only under content capture)."""
    attrs = _present(
        (
            (n.MCP_METHOD_NAME, record.method),
            (n.GEN_AI_OPERATION_NAME, n.OPERATION_EXECUTE_TOOL if record.is_tool_call else None),
            (n.GEN_AI_TOOL_NAME, record.tool),
            (n.GEN_AI_PROMPT_NAME, record.prompt),
            (n.MCP_RESOURCE_URI, record.resource_uri),
            (n.MCP_SESSION_ID, record.session_id),
            (n.MCP_PROTOCOL_VERSION, record.protocol_version),
            (n.JSONRPC_REQUEST_ID, record.request_id),
            (n.NETWORK_TRANSPORT, _CLIENT_TRANSPORT),
            (n.MCP_SERVER_NAME, record.server),
            (n.MCP_SERVER_TRANSPORT, record.transport),
            (n.ERROR_TYPE, record.error_type),
            (n.RPC_RESPONSE_STATUS_CODE, record.rpc_status_code),
            (n.REFUSAL_REASON, record.refusal),
            (n.HTTP_RESPONSE_STATUS_CODE, record.status_code if record.refusal else None),
            (n.TOOL_COST, record.cost_usd),
            (n.LITELLM_CALL_ID, record.call_id),
        )
    )
    attrs.update(who_span_attributes(record.attribution))
    if content_on_spans:
        attrs.update(
            _present(((n.GEN_AI_TOOL_CALL_ARGUMENTS, record.arguments), (n.GEN_AI_TOOL_CALL_RESULT, record.result)))
        )
    return attrs


def guardrail_span_attributes(record: GuardrailRecord) -> dict[str, AttributeValue]:
    """Every attribute of a guardrail evaluation's span."""
    attrs = _present(
        (
            (n.GEN_AI_OPERATION_NAME, n.OPERATION_APPLY_GUARDRAIL),
            (n.GUARDRAIL_NAME, record.name),
            (n.GUARDRAIL_MODE, record.mode),
            (n.GUARDRAIL_DECISION, record.decision),
            (n.GUARDRAIL_CATEGORIES, record.categories or None),
            (n.GUARDRAIL_MASKED_ENTITIES, record.masked_entities),
            (n.GUARDRAIL_COST, record.cost_usd),
            (n.GEN_AI_GUARDRAIL_COMPONENT_NAME, record.provider),
            (n.GEN_AI_GUARDRAIL_POLICY_ID, record.policy_id),
            (n.GEN_AI_GUARDRAIL_RESULT_TYPE, "guardrail_status" if record.status else None),
            (n.GEN_AI_GUARDRAIL_RESULT_VALUE, record.status),
            (n.GEN_AI_GUARDRAIL_SOURCE, record.mode),
            (n.ERROR_TYPE, record.error_type),
            (n.LITELLM_CALL_ID, record.call_id),
        )
    )
    attrs.update(who_span_attributes(record.attribution))
    return attrs


class HopEmitter:
    """Writes the spans and metric points of MCP operations, guardrail evaluations and A2A calls."""

    def __init__(self, tracer: Tracer, instruments: Instruments, limiter: CardinalityLimiter, config: Config) -> None:
        self._tracer = tracer
        self._i = instruments
        self._limiter = limiter
        self._attribution = config.metric_attribution
        self._groups = config.metric_attribution & GROUP_ATTRIBUTION
        self._content_on_spans = config.content_mode.on_spans

    # --- MCP --------------------------------------------------------------------------
    def start_mcp_span(
        self, method: str, target: str | None, context: Context | None, attributes: Mapping[str, AttributeValue]
    ) -> Span:
        """The live SERVER span of one MCP operation, current while LiteLLM serves it."""
        tool, prompt = (target, None) if method == "tools/call" else (None, target)
        return self._tracer.start_span(
            mcp_span_name(method, tool, prompt), context=context, kind=SpanKind.SERVER, attributes=attributes
        )

    def mcp(self, record: McpOperationRecord, live_span: Span | None = None) -> None:
        """End (or write, backdated) the operation's span and record its points."""
        span = self._mcp_span(record, live_span)
        context = trace.set_span_in_context(span)
        if record.refusal is not None:
            operation = n.OPERATION_EXECUTE_TOOL if record.is_tool_call else record.method
            # The proxy authenticated the caller before any MCP operation: a 403 is the key's permissions.
            attrs = refused(operation, record.error_type, record.status_code, record, self._attribution, verified=True)
            attrs[n.REFUSAL_REASON] = record.refusal
            if record.server:
                attrs[n.MCP_SERVER_NAME] = record.server
            self._i.proxy_refusals(1, AttrSet(self._limiter.limit(attrs, n.PROXY_REFUSALS_METRIC)))
            return
        what = _present(
            (
                (n.MCP_METHOD_NAME, record.method),
                (n.GEN_AI_OPERATION_NAME, n.OPERATION_EXECUTE_TOOL if record.is_tool_call else None),
                # A tool no server answers for is the caller's word: kept off the metrics.
                (n.GEN_AI_TOOL_NAME, (record.tool if record.server else n.OVERFLOW_VALUE) if record.tool else None),
                (n.GEN_AI_PROMPT_NAME, record.prompt),
                (n.MCP_SERVER_NAME, record.server),
                (n.MCP_SERVER_TRANSPORT, record.transport),
                (n.ERROR_TYPE, record.error_type),
            )
        )
        self._point(
            self._i.mcp_operation_duration,
            record.duration_s,
            what,
            record,
            self._groups,
            n.MCP_SERVER_OPERATION_DURATION,
            context,
        )
        if not record.is_tool_call:
            return
        what.pop(n.MCP_METHOD_NAME)
        self._point(self._i.mcp_tool_calls, 1, what, record, self._attribution, n.MCP_TOOL_CALLS_METRIC)
        if record.cost_usd:
            what.pop(n.ERROR_TYPE, None)
            self._point(
                self._i.mcp_tool_spend, record.cost_usd, what, record, self._attribution, n.MCP_TOOL_SPEND_METRIC
            )
        if record.loop is not None:
            subject = (n.GEN_AI_TOOL_NAME, record.tool)
            attrs = loop_attributes(record.attribution, record.loop.reason, record.loop.action, subject)
            self._i.loop_detections(1, AttrSet(self._limiter.limit(attrs, n.LOOP_DETECTIONS_METRIC)))

    def _mcp_span(self, record: McpOperationRecord, live_span: Span | None) -> Span:
        attributes = mcp_span_attributes(record, self._content_on_spans)
        if live_span is None:
            span = self._tracer.start_span(
                mcp_span_name(record.method, record.tool, record.prompt),
                kind=SpanKind.SERVER,
                attributes=attributes,
                start_time=record.start_ns,
            )
        else:
            span = live_span
            span.set_attributes(attributes)
        if record.loop is not None:
            span.add_event(n.EVENT_LOOP_DETECTED, loop_event_attributes(record.loop), timestamp=record.end_ns)
        if record.error_type is not None:
            span.set_status(Status(StatusCode.ERROR, record.error_message or record.error_type))
        span.end(end_time=record.end_ns)
        return span

    def _point(
        self,
        recorder: Recorder,
        value: float | None,
        what: dict[str, AttributeValue],
        record: McpOperationRecord | GuardrailRecord | AgentCallRecord,
        attribution: frozenset[str],
        metric: str,
        context: Context | None = None,
    ) -> None:
        if value is None:
            return
        attrs = {**what, **who_attributes(record, attribution)}
        recorder(value, AttrSet(self._limiter.limit(attrs, metric)), context)

    # --- guardrails ---------------------------------------------------------------------
    def guardrail(self, record: GuardrailRecord) -> None:
        """Write the evaluation's span (under the request it guards) and record its points."""
        span = self._tracer.start_span(
            f"{n.OPERATION_APPLY_GUARDRAIL} {record.name}",
            context=context_when_detached(record.parent_carrier),
            kind=SpanKind.INTERNAL,
            attributes=guardrail_span_attributes(record),
            start_time=record.start_ns,
        )
        if record.decision == "error":
            span.set_status(Status(StatusCode.ERROR, record.error_type))
        span.end(end_time=record.end_ns)
        what = _present(
            (
                (n.GUARDRAIL_NAME, record.name),
                (n.GUARDRAIL_MODE, record.mode),
                (n.GUARDRAIL_DECISION, record.decision),
            )
        )
        context = trace.set_span_in_context(span)
        self._point(
            self._i.guardrail_duration,
            record.duration_s,
            what,
            record,
            self._groups,
            n.GUARDRAIL_DURATION_METRIC,
            context,
        )
        self._point(self._i.guardrail_evaluations, 1, what, record, self._attribution, n.GUARDRAIL_EVALUATIONS_METRIC)

    # --- agent-to-agent ------------------------------------------------------------------
    def agent(self, record: AgentCallRecord, live_span: Span | None = None) -> None:
        """End (or write) the ``invoke_agent`` span of an A2A call and record its points."""
        name = record.agent_name or record.agent_id
        attributes = _present(
            (
                (n.GEN_AI_OPERATION_NAME, n.OPERATION_INVOKE_AGENT),
                (n.A2A_METHOD_NAME, record.method),
                (n.GEN_AI_CONVERSATION_ID, record.conversation_id),
                (n.SERVER_ADDRESS, record.server_address),
                (n.SERVER_PORT, record.server_port),
                (n.ERROR_TYPE, record.error_type),
                (n.AGENT_COST, record.cost_usd),
                (n.LITELLM_CALL_ID, record.call_id),
            )
        )
        # The called agent is the request's agent (LiteLLM's invoked_agent_id), as the conventions
        # name it on an invoke_agent span and as per-agent attribution counts it.
        attributes.update(who_span_attributes(record.attribution))
        if live_span is None:
            span = self._tracer.start_span(
                f"{n.OPERATION_INVOKE_AGENT} {name}" if name else n.OPERATION_INVOKE_AGENT,
                context=context_when_detached(record.parent_carrier),
                kind=SpanKind.CLIENT,
                attributes=attributes,
                start_time=record.start_ns,
            )
        else:
            span = live_span
            span.set_attributes(attributes)
        if record.error_type is not None:
            span.set_status(Status(StatusCode.ERROR, record.error_message or record.error_type))
        span.end(end_time=record.end_ns)
        what = _present(
            (
                (n.GEN_AI_OPERATION_NAME, n.OPERATION_INVOKE_AGENT),
                (n.GEN_AI_AGENT_NAME, name),  # the agent called: bounded by LiteLLM's agent registry
                (n.ERROR_TYPE, record.error_type),
            )
        )
        context = trace.set_span_in_context(span)
        self._point(
            self._i.agent_call_duration,
            record.duration_s,
            what,
            record,
            self._groups,
            n.AGENT_CALL_DURATION_METRIC,
            context,
        )
        self._point(self._i.agent_calls, 1, what, record, self._attribution, n.AGENT_CALLS_METRIC)
