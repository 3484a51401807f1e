"""The proxy's MCP gateway: one span and one record per MCP operation it serves.

LiteLLM serves ``/mcp`` with the ``mcp`` package's ``Server``, whose ``OpenTelemetryMiddleware``
traces every inbound message. otel-llm puts its own middleware in that one's place (never two
spans per operation): the same SERVER span, continuing the caller's trace from the request's
``_meta`` (else under the HTTP request's span), named ``execute_tool {tool}`` for a tool call,
current while LiteLLM runs the call, so LiteLLM's guardrails and the upstream call nest under it.
LiteLLM's report of the call (upstream server, who, cost, a refusal) reaches the operation in
flight through ``report`` and is merged into its one record, emitted when the client is answered.

The ``mcp`` package also traces the proxy's own requests to the upstream servers (``MCP send
initialize``, ``tools/list``, ``tools/call`` per tool call); those fold into the operation's span
unless OTEL_LLM_PROXY_MCP_UPSTREAM_SPANS is true (the upstream server still continues the trace).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import wrapt
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Span, SpanKind

from .. import _errors
from .. import _names as n
from .._capture.attribution import key_attribution, read_agent
from .._capture.fields import text
from .._capture.hops import TOOL_ERROR, as_json, refusal_reason
from .._capture.inflight import OPERATION, Operation, current_operation
from .._emit.telemetry import Telemetry
from .._loop.fingerprint import tool_fingerprint
from .._loop.guard import LoopBlockedError, observe_tool, tool_refusal
from .._record import Attribution, McpOperationRecord
from .._shapes import mapping

_log: Final = logging.getLogger("otel_llm")
SERVER_MODULE: Final = "litellm.proxy._experimental.mcp_server.server"
_DISPATCHER_MODULE: Final = "mcp.shared.jsonrpc_dispatcher"
_INVALID_PARAMS: Final = "-32602"  # JSON-RPC: what the mcp package answers a params validation error with


class McpTelemetry:
    """The MCP server middleware (``mcp`` >= 2's ``Server.middleware``) that traces every message."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        operation = self._begin(ctx)
        if operation is None:
            return await call_next(ctx)
        token = OPERATION.set(operation)
        try:
            with trace.use_span(operation.span, record_exception=False, set_status_on_exception=False):
                result = await call_next(ctx)
        except BaseException as error:
            self._finish(operation, None, error)
            raise
        finally:
            OPERATION.reset(token)
        self._finish(operation, result, None)
        return result

    def _begin(self, ctx: Any) -> Operation | None:
        return self._start(ctx) if is_instrumentation_enabled() else None

    @_errors.guarded("proxy.mcp")
    def _start(self, ctx: Any) -> Operation:
        limit = self.telemetry.config.attribute_max_length
        method = text(getattr(ctx, "method", None), limit) or "_OTHER"
        params = mapping(getattr(ctx, "params", None))
        name = text(params.get("name"), limit)
        request_id = getattr(ctx, "request_id", None)
        headers = {k.lower(): v for k, v in mapping(getattr(getattr(ctx, "request", None), "headers", None)).items()}
        record = McpOperationRecord(
            method=method,
            tool=name if method == "tools/call" else None,
            prompt=name if method == "prompts/get" else None,
            resource_uri=text(params.get("uri"), limit),
            session_id=text(headers.get("mcp-session-id"), limit),
            request_id=str(request_id) if request_id is not None else None,
            protocol_version=text(getattr(ctx, "protocol_version", None), limit),
            start_ns=time.time_ns(),
        )
        start = {n.MCP_METHOD_NAME: method}
        if record.tool:
            start[n.GEN_AI_OPERATION_NAME] = n.OPERATION_EXECUTE_TOOL
            start[n.GEN_AI_TOOL_NAME] = record.tool
        span = self.telemetry.hops.start_mcp_span(method, name, _remote_parent(getattr(ctx, "meta", None)), start)
        return Operation(record, span, time.monotonic(), headers, params.get("arguments"))

    def _finish(self, operation: Operation, result: object, error: BaseException | None) -> None:
        with _errors.boundary("proxy.mcp"):
            record = operation.record
            record.end_ns = (record.start_ns or 0) + int((time.monotonic() - operation.start_mono) * 1e9)
            _outcome(record, result, error)
            config = self.telemetry.config
            _merge(record, operation, config.attribute_max_length, config.agent_from)
            if record.is_tool_call:
                if config.content_mode.enabled:
                    record.arguments = as_json(operation.arguments, config.content_max_length)
                    if record.error_type is None and result is not None:
                        record.result = as_json(_result_content(result), config.content_max_length)
                if config.loop_mode != "off" and record.tool:
                    record.fingerprint = tool_fingerprint(record.tool, operation.arguments)
                if record.error_type in (None, TOOL_ERROR):
                    observe_tool(record, config)
            self.telemetry.hops.mcp(record, operation.span)
            return
        operation.span.end()  # an internal error above: the span still ends


def _remote_parent(meta: object) -> Any:
    """The caller's context from the request's ``_meta`` (SEP-414), if it carries a valid one; else
    None: the span goes under the current one (the HTTP request's)."""
    carrier = {k: v for k, v in mapping(meta).items() if isinstance(v, str)} if meta is not None else {}
    if "traceparent" not in carrier:
        return None
    context = propagate.extract(carrier)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def _result_content(result: object) -> object:
    """A tool result's structured content if it has one, else its content (a model, or its wire dict)."""
    raw = mapping(result)
    structured = getattr(result, "structured_content", None) or raw.get("structuredContent")
    if structured is not None:
        return structured
    content = getattr(result, "content", None)
    if isinstance(content, list):
        return [getattr(item, "text", None) or getattr(item, "type", None) for item in content]
    return raw.get("content")


def _outcome(record: McpOperationRecord, result: object, error: BaseException | None) -> None:
    """How the client was answered: an MCP error (its JSON-RPC code), a raised exception, or a
    tool result with ``isError`` (``tool_error``, as the MCP conventions name it)."""
    if error is not None:
        data = getattr(error, "error", None)  # an MCPError's ErrorData
        code = getattr(data, "code", None)
        if isinstance(code, int):
            record.error_type = record.rpc_status_code = str(code)
            record.error_message = text(getattr(data, "message", None), 256)
        elif type(error).__name__ == "ValidationError":
            record.error_type = record.rpc_status_code = _INVALID_PARAMS
        else:
            record.error_type = type(error).__qualname__
            # LiteLLM raises an HTTPException where it refuses (a prompt the key may not get, …).
            status = getattr(error, "status_code", None)
            if isinstance(status, int):
                record.status_code = status
                record.refusal = refusal_reason(record.error_type, status, text(str(error), 256), guarded=False)
        return
    if getattr(result, "is_error", None) is True or mapping(result).get("isError") is True:
        record.error_type = TOOL_ERROR


def _merge(record: McpOperationRecord, operation: Operation, limit: int, agent_from: tuple[str, ...]) -> None:
    """Fill the record from LiteLLM's report of the call, and from LiteLLM's auth context."""
    reported = operation.reported
    if reported is not None:
        record.server = reported.server
        record.call_id = reported.call_id
        record.conversation_id = reported.conversation_id
        record.cost_usd = reported.cost_usd
        record.session_id = record.session_id or reported.session_id
        record.attribution = reported.attribution
        if reported.refusal is not None:
            # LiteLLM answers a refused call with an isError result: a refusal, not a tool failure.
            record.refusal, record.status_code = reported.refusal, reported.status_code
            record.error_type, record.error_message = reported.error_type, reported.error_message
    if not record.attribution.key_hash:
        record.attribution = caller(limit)
    if not record.attribution.agent_id:
        record.attribution.agent_id, record.attribution.agent_name = _agent(operation, agent_from, limit)
    record.transport = _transport_of(record.server)


def _agent(operation: Operation, agent_from: tuple[str, ...], limit: int) -> tuple[str | None, str | None]:
    """The calling agent, from the ``x-litellm-agent-id`` header (LiteLLM's ``metadata.agent_id``)."""
    return read_agent(agent_from, {"agent_id": operation.headers.get("x-litellm-agent-id")}, {}, (), limit)


def refuse_looping_tool(telemetry: Telemetry, user_api_key_auth: object) -> None:
    """Block mode: refuse a tool call (HTTP 429, which LiteLLM answers as an MCP tool error naming why
    and until when) while the caller's calls of that tool are cooling down from a detected loop."""
    if telemetry.config.loop_mode != "block":
        return
    refused = _looping(telemetry, user_api_key_auth)
    if refused is None:
        return
    from fastapi import HTTPException  # noqa: PLC0415  # the proxy's own web framework

    raise HTTPException(status_code=429, detail=str(refused), headers={"retry-after": str(refused.retry_after_s)})


@_errors.guarded("proxy.loop_guard")
def _looping(telemetry: Telemetry, user_api_key_auth: object) -> LoopBlockedError | None:
    """The refusal of this tool call, counted, if its caller's calls of the tool are cooling down."""
    config = telemetry.config
    operation = current_operation()
    if operation is None or not operation.record.tool:
        return None
    tool = operation.record.tool
    who = key_attribution(user_api_key_auth, config.attribute_max_length)
    who.agent_id, who.agent_name = _agent(operation, config.agent_from, config.attribute_max_length)
    block = tool_refusal(config, who, tool)
    if block is None:
        return None
    telemetry.record_loop_refusal(block.reason, who, tool=tool)
    caller = f"key {who.key_alias!r}" if who.key_alias else "this caller"
    return LoopBlockedError(block, f"{caller} calling tool {tool!r}")


def caller(limit: int) -> Attribution:
    """Who LiteLLM authenticated the MCP request being served with (its MCP auth context)."""
    lookup = getattr(sys.modules.get(SERVER_MODULE), "get_active_auth_context", None)
    auth = lookup() if callable(lookup) else None
    return key_attribution(getattr(auth, "user_api_key_auth", None), limit)


def _transport_of(server: str | None) -> str | None:
    """The upstream server's transport (http, sse, stdio), from LiteLLM's MCP server registry."""
    if not server:
        return None
    manager = getattr(
        sys.modules.get("litellm.proxy._experimental.mcp_server.mcp_server_manager"), "global_mcp_server_manager", None
    )
    lookup = getattr(manager, "get_mcp_server_by_name", None)
    found = lookup(server) if callable(lookup) else None
    transport = getattr(found, "transport", None)
    value = getattr(transport, "value", transport)
    return value if isinstance(value, str) else None


# --- installing into LiteLLM's MCP server -------------------------------------------------------


class Installation:
    """The middleware in LiteLLM's MCP server and the folded upstream spans; ``remove`` undoes both."""

    def __init__(self, telemetry: Telemetry, upstream_spans: bool) -> None:
        self.middleware = McpTelemetry(telemetry)
        self._upstream_spans = upstream_spans
        self._replaced: list[object] = []
        self._server: Any = None
        self._dispatcher: Any = None
        self._original_otel_span: Any = None

    def install(self) -> None:
        """Install now for modules already imported, else as LiteLLM imports them."""
        wrapt.register_post_import_hook(self._into_server, SERVER_MODULE)
        if not self._upstream_spans:
            wrapt.register_post_import_hook(self._fold_upstream_spans, _DISPATCHER_MODULE)

    def _into_server(self, module: Any) -> None:
        server = getattr(module, "server", None)
        chain = getattr(server, "middleware", None)
        if not isinstance(chain, list) or self.middleware in chain:
            return
        self._server = server
        self._replaced = [m for m in chain if type(m).__name__ == "OpenTelemetryMiddleware"]
        position = chain.index(self._replaced[0]) if self._replaced else 0
        chain[:] = [m for m in chain if m not in self._replaced]
        chain.insert(position, self.middleware)

    def _fold_upstream_spans(self, module: Any) -> None:
        original = getattr(module, "otel_span", None)
        if original is None or self._dispatcher is not None:
            return

        @contextlib.contextmanager
        def otel_span(name: str, *, kind: SpanKind, **kwargs: Any) -> Iterator[Span]:
            if kind is SpanKind.CLIENT:
                # No span of its own: the request carries the current span's context upstream.
                yield trace.INVALID_SPAN
                return
            with original(name, kind=kind, **kwargs) as span:
                yield span

        self._dispatcher, self._original_otel_span = module, original
        module.otel_span = otel_span

    def remove(self) -> None:
        """Put LiteLLM's MCP server and the ``mcp`` package back as they were."""
        chain = getattr(self._server, "middleware", None)
        if isinstance(chain, list) and self.middleware in chain:
            position = chain.index(self.middleware)
            chain[position : position + 1] = self._replaced
        if self._dispatcher is not None:
            self._dispatcher.otel_span = self._original_otel_span
            self._dispatcher = None
