"""The gateway's hops without a proxy: LiteLLM's reports of MCP tool calls, guardrail evaluations and
A2A calls become their own records, spans and metrics, never LLM attempts; the MCP middleware with
the real ``mcp`` package's server; LiteLLM's own guardrail class behind otel-llm's wrapper.
"""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm import _errors
from otel_llm._capture.attribution import salted_key_hash
from otel_llm._capture.hops import guardrail_from_entry, mcp_from_payload
from otel_llm._config import resolve
from otel_llm._emit.telemetry import Telemetry
from otel_llm._loop import detector as loop_detector
from otel_llm._proxy.guardrails import GuardrailTelemetry
from otel_llm._proxy.mcp import Installation
from otel_llm.callback import OtelLLMCallback
from tests.conftest import Signals

LITELLM_HASH = "c7e6dac7a3b91b350c8d229aaec5182ca31cbec484d7ff3bd0e19313fc5cf226"  # LiteLLM's unsalted hash
STARTED = 1796409289.02137


def tool_payload(status: str = "success", **overrides: Any) -> dict[str, Any]:
    """A ``standard_logging_object`` of an MCP tool call, shaped as LiteLLM 1.108 reports it."""
    payload: dict[str, Any] = {
        "id": "call-1",
        "litellm_call_id": "call-1",
        "call_type": "call_mcp_tool",
        "status": status,
        "startTime": STARTED,
        "endTime": STARTED + 0.07,
        "model": "MCP: calc-add",
        "response_cost": 0.002 if status == "success" else 0.0,
        "metadata": {
            "user_api_key_hash": LITELLM_HASH,
            "user_api_key_alias": "tools-agent",
            "user_api_key_team_id": "team-t",
            "user_api_key_team_alias": "Team T",
            "mcp_tool_call_metadata": {
                "name": "add",
                "arguments": {"a": 2, "b": 3},
                "mcp_server_name": "calc",
                "namespaced_tool_name": "calc/add",
                "mcp_session_id": "4f118933adf649db80e2bc3d3a4a7a7f",
            },
        },
        "response": {"content": [{"type": "text", "text": "5"}], "structured_content": {"result": 5}},
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }
    payload.update(overrides)
    return payload


def failure(error_class: str, code: str, message: str, **fields: Any) -> dict[str, Any]:
    return tool_payload(
        "failure",
        error_str=message,
        error_information={"error_class": error_class, "error_code": code, "error_message": message},
        **fields,
    )


def test_a_tool_call_report_becomes_an_mcp_record() -> None:
    """LiteLLM's call_mcp_tool report: the tool as the client named it, its server, session, cost and who;
    no arguments or result without content capture."""
    record = mcp_from_payload(tool_payload(), {}, resolve({}))
    assert (record.method, record.tool, record.server) == ("tools/call", "calc-add", "calc")
    assert record.session_id == "4f118933adf649db80e2bc3d3a4a7a7f" and record.cost_usd == 0.002
    assert record.duration_s == pytest.approx(0.07, abs=1e-6)
    assert record.attribution.key_alias == "tools-agent"
    assert record.attribution.key_hash == salted_key_hash(LITELLM_HASH)
    assert record.error_type is None and record.refusal is None
    assert record.arguments is None and record.result is None
    assert record.fingerprint is not None  # a hash for loop detection, never the arguments
    captured = mcp_from_payload(tool_payload(), {}, resolve({}, content_mode="SPAN_ONLY"))
    assert captured.arguments == '{"a": 2, "b": 3}' and captured.result is not None and '"5"' in captured.result


@pytest.mark.parametrize(
    ("payload", "error_type", "refusal", "status"),
    [
        (failure("MCPToolResultError", "", "Error executing tool fail"), "tool_error", None, None),
        (
            failure("HTTPException", "403", "403: User not allowed to call this tool."),
            "HTTPException",
            "permission",
            403,
        ),
        (failure("HTTPException", "429", "429: rate limit"), "HTTPException", "rate_limit", 429),
        (
            failure(
                "HTTPException",
                "400",
                "400: Content blocked",
                status_fields={"guardrail_status": "guardrail_intervened"},
            ),
            "HTTPException",
            "guardrail",
            400,
        ),
        (failure("HTTPException", "429", "otel-llm loop guard: key 'x' …"), "HTTPException", "loop_guard", 429),
        (failure("ConnectError", "", "upstream down"), "ConnectError", None, None),
    ],
)
def test_failures_and_refusals_are_told_apart(
    payload: dict[str, Any], error_type: str, refusal: str | None, status: int | None
) -> None:
    """A tool answering with an error is a tool_error; a call the proxy refused (permission, rate limit,
    guardrail, loop guard) is a refusal; anything else a failure of the call; none has a cost."""
    record = mcp_from_payload(payload, {}, resolve({}))
    assert (record.error_type, record.refusal, record.status_code) == (error_type, refusal, status)
    assert record.cost_usd is None


@pytest.mark.parametrize(
    ("entry", "decision"),
    [
        ({"guardrail_status": "success", "guardrail_response": "allow"}, "pass"),
        ({"guardrail_status": "success", "guardrail_response": []}, "pass"),
        ({"guardrail_status": "success", "guardrail_response": "mask"}, "mask"),
        ({"guardrail_status": "success", "guardrail_response": [{"keyword": "x", "action": "MASK"}]}, "mask"),
        ({"guardrail_status": "success", "masked_entity_count": {"EMAIL": 2}}, "mask"),
        ({"guardrail_status": "guardrail_intervened", "guardrail_response": [{"action": "BLOCK"}]}, "block"),
        ({"guardrail_status": "guardrail_flagged"}, "flag"),
        ({"guardrail_status": "guardrail_failed_to_respond", "guardrail_response": "boom"}, "error"),
        ({"guardrail_status": "not_run"}, "not_run"),
    ],
)
def test_guardrail_decisions(entry: dict[str, Any], decision: str) -> None:
    """LiteLLM's status and summarised response → what the proxy did with the content."""
    full = {"guardrail_name": "g", "guardrail_mode": "pre_call", "start_time": STARTED, "end_time": STARTED + 0.001}
    record = guardrail_from_entry({**full, **entry}, {}, resolve({}))
    assert record is not None and record.decision == decision
    assert (record.error_type is not None) == (decision == "error")


def test_a_guardrail_entry_becomes_a_record_with_who_and_timing() -> None:
    """Name, mode (an enum too), provider, policy id, categories, masked entities, LiteLLM's times, and who
    from the guarded request's metadata (or, for an MCP guardrail's synthetic request, beside it)."""

    class Mode:
        value = "post_call"

    entry = {
        "guardrail_name": "pii",
        "guardrail_mode": Mode(),
        "guardrail_provider": "presidio",
        "guardrail_id": "gd-1",
        "guardrail_status": "success",
        "violation_categories": ["EMAIL"],
        "masked_entity_count": {"EMAIL": 2, "PHONE": 1},
        "start_time": STARTED,
        "end_time": STARTED + 0.08,
    }
    request = {"litellm_call_id": "req-1", "metadata": {"user_api_key_alias": "a", "user_api_key_team_id": "t"}}
    record = guardrail_from_entry(entry, request, resolve({}))
    assert record is not None
    assert (record.name, record.mode, record.provider, record.policy_id) == ("pii", "post_call", "presidio", "gd-1")
    assert record.categories == ("EMAIL",) and record.masked_entities == 3 and record.decision == "mask"
    assert record.duration_s == pytest.approx(0.08, abs=1e-6) and record.call_id == "req-1"
    assert (record.attribution.key_alias, record.attribution.team_id) == ("a", "t")
    synthetic = {"user_api_key_hash": LITELLM_HASH, "metadata": {"user_api_key_team_id": "t"}}
    mcp_record = guardrail_from_entry({**entry, "guardrail_mode": "pre_mcp_call"}, synthetic, resolve({}))
    assert mcp_record is not None and mcp_record.attribution.key_hash == salted_key_hash(LITELLM_HASH)
    assert guardrail_from_entry({"guardrail_status": "success"}, {}, resolve({})) is None


def _report(callback: OtelLLMCallback, payload: dict[str, Any], asynchronous: bool = True) -> None:
    kwargs = {"standard_logging_object": payload, "litellm_call_id": payload["litellm_call_id"]}
    if asynchronous:
        asyncio.run(callback.async_log_success_event(kwargs, None, None, None))
    else:
        callback.log_success_event(kwargs, None, None, None)


def test_a_tool_call_is_never_an_llm_call(signals: Signals, callback_only: OtelLLMCallback) -> None:
    """LiteLLM reports a tool call like a zero-token LLM call of model "MCP: calc-add": otel-llm makes it
    one execute_tool span and tool metrics, and no GenAI client point (the sync report is ignored: only
    the async one, which LiteLLM awaits inside the operation, counts)."""
    _report(callback_only, tool_payload(litellm_call_id="sync-only", id="sync-only"), asynchronous=False)
    assert signals.spans() == []
    _report(callback_only, tool_payload())
    (span,) = signals.spans()
    assert span.name == "execute_tool calc-add" and span.kind is SpanKind.SERVER
    assert span.attributes is not None and span.attributes["otel_llm.mcp.server.name"] == "calc"
    metrics = signals.metrics()
    assert not [name for name in metrics if name.startswith(("gen_ai.client", "otel_llm.client"))]
    (calls,) = metrics["otel_llm.mcp.tool.calls"]
    assert calls.value == 1 and calls.attributes["gen_ai.tool.name"] == "calc-add"
    assert calls.attributes["otel_llm.key.alias"] == "tools-agent"
    (spend,) = metrics["otel_llm.mcp.tool.spend"]
    assert spend.value == pytest.approx(0.002)
    (duration,) = metrics["mcp.server.operation.duration"]
    assert duration.count == 1 and "otel_llm.key.alias" not in duration.attributes
    _report(callback_only, tool_payload())  # the same report again (another callback instance): once only
    assert len(signals.spans()) == 1


def test_a_refused_tool_call_is_counted_as_a_refusal(signals: Signals, callback_only: OtelLLMCallback) -> None:
    """A tool the key may not use: one proxy refusal (operation execute_tool, reason permission, who),
    neither a tool call nor a duration point."""
    payload = failure("HTTPException", "403", "403: User not allowed to call this tool.")
    asyncio.run(callback_only.async_log_failure_event({"standard_logging_object": payload}, None, None, None))
    metrics = signals.metrics()
    (refusal,) = metrics["otel_llm.proxy.refusals"]
    assert refusal.attributes["gen_ai.operation.name"] == "execute_tool"
    assert refusal.attributes["otel_llm.refusal.reason"] == "permission"
    assert refusal.attributes["otel_llm.key.alias"] == "tools-agent"
    assert "otel_llm.mcp.tool.calls" not in metrics and "mcp.server.operation.duration" not in metrics
    (span,) = signals.spans()
    assert span.status.status_code is StatusCode.ERROR and span.attributes is not None
    assert span.attributes["http.response.status_code"] == 403


def test_tool_names_are_capped_like_every_attribute(signals: Signals) -> None:
    """A client inventing tool names cannot grow the tool metrics: past the cap they are _OTHER, counted."""
    config = resolve({"OTEL_LLM_METRIC_ATTRIBUTE_VALUE_LIMIT": "3"})
    telemetry = Telemetry(config, signals.tracer_provider, signals.meter_provider)
    for i in range(6):
        telemetry.hops.mcp(mcp_from_payload(tool_payload(model=f"MCP: calc-tool{i}"), {}, config))
    tools = {p.attributes["gen_ai.tool.name"] for p in signals.points("otel_llm.mcp.tool.calls")}
    assert tools == {"calc-tool0", "calc-tool1", "calc-tool2", "_OTHER"}
    assert signals.points("otel_llm.metric.overflow")
    telemetry.close()


def test_tool_loops_repeat_per_key_agent_and_tool() -> None:
    """The same tool with the same arguments again and again is a repeat loop; the same tool with other
    arguments, another tool, or another agent behind the same key is not the same window."""
    loop_detector.reset()
    config = resolve({"OTEL_LLM_LOOP_REPEATS": "4"})
    detector = loop_detector.Detector(config, loop_detector.InProcessStore(100))

    def call(arguments: dict[str, int], agent: str | None = None, tool: str = "calc-add") -> str | None:
        record = mcp_from_payload(tool_payload(model=f"MCP: {tool}"), {}, config)
        record.fingerprint = mcp_from_payload(
            tool_payload(
                model=f"MCP: {tool}",
                metadata={**tool_payload()["metadata"], "mcp_tool_call_metadata": {"arguments": arguments}},
            ),
            {},
            config,
        ).fingerprint
        record.attribution.agent_id = agent
        detection = detector.observe_tool(record, now=STARTED)
        return detection.reason if detection else None

    assert [call({"a": i}) for i in range(10)] == [None] * 10
    assert [call({"a": 1}, agent="planner") for _ in range(3)] == [None] * 3
    assert [call({"a": 1}, tool="calc-echo") for _ in range(3)] == [None] * 3
    assert [call({"a": 1}) for _ in range(3)] == [None, None, "repeat"]  # the 4th call of {"a": 1}
    assert call({"a": 1}, agent="planner") == "repeat"


def test_the_mcp_middleware_makes_one_span_per_operation(signals: Signals) -> None:
    """With the mcp package's own server (in process): otel-llm's middleware takes the place of the
    package's tracer; each operation is one SERVER span (execute_tool {tool}; tool_error for a failing
    tool), with its duration point; arguments and results only under content capture."""
    # mcp >= 2 (LiteLLM >= 1.108): a server with middleware; older LiteLLM ships mcp 1.x, whose reports
    # the callback turns into spans on its own (the tests above).
    MCPServer = pytest.importorskip("mcp.server.mcpserver").MCPServer
    from mcp import Client

    server = MCPServer("calc")

    @server.tool()
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool()
    def fail() -> int:
        raise ValueError("no")

    for content in ("NO_CONTENT", "SPAN_ONLY"):
        signals.spans_exporter.clear()
        telemetry = Telemetry(
            resolve({}, content_mode=content), signals.tracer_provider, signals.meter_provider, signals.logger_provider
        )
        installation = Installation(telemetry, upstream_spans=False)
        installation._into_server(types.SimpleNamespace(server=server._lowlevel_server))
        assert [type(m).__name__ for m in server.middleware].count("OpenTelemetryMiddleware") == 0

        async def session() -> list[Any]:
            async with Client(server) as client:
                return [await client.call_tool("add", {"a": 1, "b": 2}), await client.call_tool("fail", {})]

        try:
            added, failed = asyncio.run(session())
        finally:
            installation.remove()
        assert not added.is_error and failed.is_error
        tool_spans = [
            s for s in signals.spans() if s.attributes and s.attributes.get("mcp.method.name") == "tools/call"
        ]
        assert [s.name for s in tool_spans] == ["execute_tool add", "execute_tool fail"]
        assert all(
            s.instrumentation_scope is not None and s.instrumentation_scope.name == "otel_llm" for s in signals.spans()
        )
        ok, bad = (s.attributes for s in tool_spans)
        assert ok is not None and bad is not None
        assert "error.type" not in ok and bad["error.type"] == "tool_error"
        assert ("gen_ai.tool.call.arguments" in ok) == (content == "SPAN_ONLY")
        if content == "SPAN_ONLY":
            assert ok["gen_ai.tool.call.arguments"] == '{"a": 1, "b": 2}' and "3" in str(ok["gen_ai.tool.call.result"])
        telemetry.close()
    assert "OpenTelemetryMiddleware" in [type(m).__name__ for m in server.middleware]


def test_a_guardrail_raising_keeps_litellms_behaviour(signals: Signals) -> None:
    """LiteLLM's own custom-code guardrail failing: the same exception reaches the proxy with otel-llm's
    wrapper as without it, and with the wrapper itself failing; the failure is recorded (decision error)."""
    hooks = pytest.importorskip("litellm.proxy.guardrails.guardrail_hooks.custom_code.custom_code_guardrail")
    CustomCodeGuardrail = hooks.CustomCodeGuardrail

    code = "def apply_guardrail(inputs, request_data, input_type):\n    return 1 / 0\n"
    guardrail = CustomCodeGuardrail(guardrail_name="crashy", custom_code=code, event_hook="pre_call")

    def outcome() -> tuple[str, str]:
        request = {"metadata": {"user_api_key_alias": "a"}, "litellm_call_id": "r-1"}
        try:
            asyncio.run(guardrail.apply_guardrail(inputs={"texts": ["hi"]}, request_data=request, input_type="request"))
        except Exception as error:  # comparing whatever LiteLLM raises
            return type(error).__name__, str(error)
        return "none", ""

    without = outcome()
    assert without[0] != "none"
    telemetry = Telemetry(resolve({}), signals.tracer_provider, signals.meter_provider)
    wrapper = GuardrailTelemetry(telemetry)
    import litellm.integrations.custom_guardrail as module

    wrapper._patch(module)
    try:
        assert outcome() == without
        (span,) = signals.spans()
        assert span.name == "apply_guardrail crashy" and span.attributes is not None
        assert span.attributes["otel_llm.guardrail.decision"] == "error"
        assert span.status.status_code is StatusCode.ERROR
        _errors.set_strict(False)
        telemetry.hops = None  # type: ignore[assignment]  # otel-llm broken: its wrapper must not be felt
        assert outcome() == without
        assert _errors.internal_error_count("proxy.guardrail") >= 1
    finally:
        _errors.set_strict(True)
        _errors.take_strict_errors()
        wrapper.remove()
        telemetry.close()
    assert outcome() == without


def test_upstream_client_spans_fold_into_the_operation_unless_asked_for(signals: Signals) -> None:
    """The mcp package's CLIENT spans of the proxy's upstream requests fold into the current span (no span of
    their own; the request carries the current context upstream); SERVER spans are untouched; with
    OTEL_LLM_PROXY_MCP_UPSTREAM_SPANS nothing is patched; remove() restores the package."""
    import contextlib

    from opentelemetry import trace

    made: list[str] = []

    @contextlib.contextmanager
    def otel_span(name: str, *, kind: SpanKind, **kwargs: Any) -> Any:
        made.append(name)
        yield trace.INVALID_SPAN

    module = types.SimpleNamespace(otel_span=otel_span)
    telemetry = Telemetry(resolve({}), signals.tracer_provider, signals.meter_provider)
    kept = Installation(telemetry, upstream_spans=True)
    kept.install()  # registers import hooks only; the fake module is handed over by hand below
    assert module.otel_span is otel_span
    folding = Installation(telemetry, upstream_spans=False)
    folding._fold_upstream_spans(module)
    with module.otel_span("MCP send tools/call add", kind=SpanKind.CLIENT) as span:
        assert span is trace.INVALID_SPAN
    with module.otel_span("tools/call add", kind=SpanKind.SERVER):
        pass
    assert made == ["tools/call add"]
    folding.remove()
    assert module.otel_span is otel_span
    telemetry.close()
