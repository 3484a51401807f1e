"""Every hop the gateway makes, through the real proxy: MCP tool calls to a real MCP server over
streamable HTTP and one over stdio (the ``mcp`` package's client with a virtual key), LiteLLM's own
guardrails (its content filter and a custom-code guardrail), an A2A call to a real local agent
(the a2a-sdk), and tool-loop detection in observe mode; OTLP to a local receiver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes import fake_providers
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import PROVIDER_KEY, ProxyProcess, unsalted_litellm_hash
from tests.proxy.hops_harness import (
    AUTH_MODULE,
    BUSY,
    LIMITED,
    LOOPER,
    TOOLS,
    ServerProcess,
    a2a_message,
    mcp_servers,
    mcp_session,
    result_text,
)

pytestmark = pytest.mark.e2e

SERVER, INTERNAL, CLIENT = 2, 1, 3
ERROR = 2  # OTLP status code
CODE_GUARDRAIL = """
def apply_guardrail(inputs, request_data, input_type):
    texts = inputs.get("texts") or []
    for text in texts:
        if contains(lower(text), "crash"):
            return 1 / 0
        if contains(lower(text), "suspicious"):
            return flag("looks suspicious")
    return allow()
"""


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver) -> Iterator[ProxyProcess]:
    workdir = tmp_path_factory.mktemp("hops")
    calc = ServerProcess("calc_mcp.py", "http").start()
    agent = ServerProcess("echo_agent.py").start()
    with fake_providers() as (fake, _):
        card = {"name": "echo", "description": "Reverses text", "url": f"http://127.0.0.1:{agent.port}/"}
        card |= {"version": "1.0.0", "protocolVersion": "1.0", "capabilities": {}, "skills": []}
        card |= {"defaultInputModes": ["text"], "defaultOutputModes": ["text"]}
        config = {
            "model_list": [
                {
                    "model_name": "gpt-main",
                    "litellm_params": {
                        "model": "openai/gpt-4o-mini",
                        "api_base": fake.api_base,
                        "api_key": PROVIDER_KEY,
                    },
                }
            ],
            "litellm_settings": {"callbacks": ["otel_llm.proxy.callback"]},
            "general_settings": {"custom_auth": "auth.user_api_key_auth"},
            "mcp_servers": mcp_servers(calc.port),
            "agents": [{"agent_name": "echo", "agent_card_params": card}],
            "guardrails": [
                _content_filter("no-forbidden", "pre_call", "forbidden", "BLOCK"),
                _content_filter("mask-fake", "post_call", "fake", "MASK"),
                _content_filter("tool-guard", "pre_mcp_call", "666", "BLOCK"),
                {
                    "guardrail_name": "code-check",
                    "litellm_params": {
                        "guardrail": "custom_code",
                        "mode": "pre_call",
                        "default_on": True,
                        "custom_code": CODE_GUARDRAIL,
                    },
                },
            ],
        }
        (workdir / "hops.yaml").write_text(yaml.safe_dump(config))
        process = ProxyProcess(
            workdir,
            [],
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_SERVICE_NAME": "gateway-under-test",
                "LITELLM_ENABLE_MCP_STDIO": "true",
            },
            config_file=workdir / "hops.yaml",
        )
        (workdir / "auth.py").write_text(AUTH_MODULE)
        try:
            yield process.start(timeout=180)
        finally:
            process.stop()
            calc.stop()
            agent.stop()
    assert "otel-llm: internal error" not in process.log(), process.log()[-5000:]


def _content_filter(name: str, mode: str, word: str, action: str) -> dict[str, Any]:
    return {
        "guardrail_name": name,
        "litellm_params": {
            "guardrail": "litellm_content_filter",
            "mode": mode,
            "default_on": True,
            "blocked_words": [{"keyword": word, "action": action}],
        },
    }


def _traceparent(trace_id: str) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id}-{'a1' * 8}-01"}


def _spans(receiver: OtlpReceiver, done: Callable[[list[dict[str, Any]]], bool], what: str) -> list[dict[str, Any]]:
    return receiver.wait_for(lambda: (spans := receiver.spans()) and done(spans) and spans, message=what)


def _in_trace(receiver: OtlpReceiver, trace_id: str, count: int, name_prefix: str) -> list[dict[str, Any]]:
    """The spans of a trace, once ``count`` of them are named ``name_prefix``… and the span each is under
    (the HTTP request's, or a tool call's) has arrived too (a parent ends, and is exported, last)."""

    def done(spans: list[dict[str, Any]]) -> bool:
        mine = {s["span_id"]: s for s in spans if s["trace_id"] == trace_id}
        named = [s for s in mine.values() if str(s["name"]).startswith(name_prefix)]
        return len(named) >= count and all(s["parent_span_id"] in mine for s in named)

    return [
        s for s in _spans(receiver, done, f"{count} {name_prefix} spans in {trace_id}") if s["trace_id"] == trace_id
    ]


def _total(receiver: OtlpReceiver, metric: str, **match: Any) -> float:
    """The sum over a metric's series whose attributes include ``match`` (a histogram's count)."""
    total = 0.0
    for attrs, point, _ in receiver.latest_points(metric):
        if all(attrs.get(k) == v for k, v in match.items()):
            total += point.count if hasattr(point, "bucket_counts") else (point.as_int or point.as_double)
    return total


def test_tool_calls_are_one_span_each_under_the_request_span(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """tools/list and tools/call through the gateway to an HTTP and a stdio MCP server: one SERVER span per
    operation (execute_tool {tool}), in the caller's trace under the proxy's POST /mcp span, with the
    upstream server, transport, session, cost and who; no other span claims the tool call."""
    trace_id = "7ab1" * 8
    listed, added, echoed, stdio = mcp_session(
        proxy.url,
        TOOLS,
        [
            ("list_tools", None),
            ("call", ("calc-add", {"a": 2, "b": 3})),
            ("call", ("calc-echo", {"text": "hi"})),
            ("call", ("calcio-add", {"a": 1, "b": 1})),
        ],
        headers=_traceparent(trace_id),
    )
    assert {t.name for t in listed.tools} >= {"calc-add", "calc-echo", "calc-fail", "calcio-add"}
    assert (result_text(added), result_text(echoed), result_text(stdio)) == ("5", "hi", "2")

    spans = _in_trace(receiver, trace_id, 3, "execute_tool")
    tools = {s["name"]: s for s in spans if s["name"].startswith("execute_tool")}
    assert set(tools) == {"execute_tool calc-add", "execute_tool calc-echo", "execute_tool calcio-add"}
    # Exactly one span per tool call: no mcp package span (upstream CLIENT spans are folded), no LLM span.
    assert [s for s in spans if s["attributes"].get("mcp.method.name") == "tools/call"] == list(tools.values())
    assert not [s for s in spans if s["scope"] == "mcp-python-sdk"]
    assert not [s for s in spans if "call_mcp_tool" in s["name"] or "MCP:" in s["name"]]
    http_spans = {s["span_id"]: s for s in spans if s["name"] == "POST /mcp"}
    for span in tools.values():
        assert span["kind"] == SERVER and span["scope"] == "otel_llm"
        parent = http_spans[span["parent_span_id"]]
        assert parent["parent_span_id"] == "a1" * 8  # the caller's span
    add = tools["execute_tool calc-add"]["attributes"]
    assert add["gen_ai.operation.name"] == "execute_tool" and add["mcp.method.name"] == "tools/call"
    assert add["gen_ai.tool.name"] == "calc-add"
    assert add["otel_llm.mcp.server.name"] == "calc" and add["otel_llm.mcp.server.transport"] == "http"
    assert add["otel_llm.tool.cost"] == pytest.approx(0.002)
    assert isinstance(add["mcp.session.id"], str) and isinstance(add["jsonrpc.request.id"], str)
    assert add["network.transport"] == "tcp" and add["mcp.protocol.version"]
    assert add["otel_llm.key.alias"] == "tool-user" and add["otel_llm.team.id"] == "team-tools"
    assert len(add["otel_llm.key.hash"]) == 16 and add["otel_llm.key.hash"] not in unsalted_litellm_hash(TOOLS)
    assert isinstance(add["otel_llm.litellm.call_id"], str)
    assert "error.type" not in add
    assert tools["execute_tool calc-echo"]["attributes"]["otel_llm.tool.cost"] == pytest.approx(0.01)
    io = tools["execute_tool calcio-add"]["attributes"]
    assert io["otel_llm.mcp.server.name"] == "calcio" and io["otel_llm.mcp.server.transport"] == "stdio"
    # Private by default: no tool arguments or results.
    assert not [s for s in spans if "gen_ai.tool.call.arguments" in s["attributes"]]
    assert not [s for s in spans if "gen_ai.tool.call.result" in s["attributes"]]
    (listing,) = [s for s in spans if s["name"] == "tools/list"]
    assert listing["kind"] == SERVER and listing["parent_span_id"] in http_spans
    assert listing["attributes"]["otel_llm.key.alias"] == "tool-user"
    assert "gen_ai.operation.name" not in listing["attributes"]


def test_tool_metrics_per_tool_server_key_and_team(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """Tool calls, their cost and their durations per tool, server, key and team; none of it in the GenAI
    client metrics (LiteLLM reports a tool call as a zero-token call of model "MCP: calc-add")."""
    mcp_session(proxy.url, TOOLS, [("call", ("calc-add", {"a": 4, "b": 4})), ("call", ("calcio-echo", {"text": "x"}))])
    tool = {"otel_llm.key.alias": "tool-user"}

    def counted() -> bool:
        return _total(receiver, "otel_llm.mcp.tool.calls", **tool, **{"gen_ai.tool.name": "calcio-echo"}) >= 1

    receiver.wait_for(counted, message="tool calls counted")
    adds = _total(receiver, "otel_llm.mcp.tool.calls", **tool, **{"gen_ai.tool.name": "calc-add"})
    assert adds >= 1
    spend = _total(receiver, "otel_llm.mcp.tool.spend", **tool, **{"gen_ai.tool.name": "calc-add"})
    assert spend == pytest.approx(0.002 * adds)
    for attrs, _, _ in receiver.latest_points("otel_llm.mcp.tool.calls"):
        if attrs.get("gen_ai.tool.name") == "calcio-echo":
            assert attrs["otel_llm.mcp.server.name"] == "calcio" and attrs["otel_llm.team.id"] == "team-tools"
            assert attrs["gen_ai.operation.name"] == "execute_tool" and "error.type" not in attrs
    durations = [a for a, _, _ in receiver.latest_points("mcp.server.operation.duration")]
    add_durations = [a for a in durations if a.get("gen_ai.tool.name") == "calc-add" and "error.type" not in a]
    assert add_durations and all(a["mcp.method.name"] == "tools/call" for a in add_durations)
    assert all("otel_llm.key.alias" not in a and a["otel_llm.team.id"] == "team-tools" for a in add_durations)
    assert {a["mcp.method.name"] for a in durations} >= {"initialize", "tools/call"}
    # Never an LLM call: every GenAI client point is a chat (from the guardrail tests' calls, if any).
    for metric in ("gen_ai.client.operation.duration", "otel_llm.client.requests", "otel_llm.client.cost"):
        for attrs, _, _ in receiver.latest_points(metric):
            assert attrs["gen_ai.operation.name"] == "chat", (metric, attrs)


def test_failing_tool_is_a_tool_error(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """A tool answering with isError: error.type tool_error on its span (status ERROR) and its metrics."""
    trace_id = "7ab2" * 8
    (result,) = mcp_session(proxy.url, TOOLS, [("call", ("calc-fail", {"reason": "x"}))], _traceparent(trace_id))
    assert result.is_error
    (span,) = [s for s in _in_trace(receiver, trace_id, 1, "execute_tool") if s["name"] == "execute_tool calc-fail"]
    assert span["attributes"]["error.type"] == "tool_error" and span["status"] == ERROR
    assert "otel_llm.refusal.reason" not in span["attributes"]
    match = {"gen_ai.tool.name": "calc-fail", "error.type": "tool_error"}
    receiver.wait_for(lambda: _total(receiver, "otel_llm.mcp.tool.calls", **match) >= 1, message="tool error counted")


def test_tool_the_key_may_not_call_is_a_refusal(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """A key without the server in its object_permission: LiteLLM refuses the call, which is a proxy
    refusal (reason permission, 403), neither a tool call nor a tool failure."""
    trace_id = "7ab3" * 8
    (result,) = mcp_session(proxy.url, LIMITED, [("call", ("calc-add", {"a": 1, "b": 2}))], _traceparent(trace_id))
    assert result.is_error and "not allowed" in result_text(result)
    (span,) = [s for s in _in_trace(receiver, trace_id, 1, "execute_tool") if s["name"] == "execute_tool calc-add"]
    attrs = span["attributes"]
    assert attrs["otel_llm.refusal.reason"] == "permission" and attrs["http.response.status_code"] == 403
    assert attrs["otel_llm.key.alias"] == "no-calc"
    who = {"otel_llm.key.alias": "no-calc", "gen_ai.operation.name": "execute_tool"}
    refused = {**who, "otel_llm.refusal.reason": "permission", "http.response.status_code": 403}
    receiver.wait_for(lambda: _total(receiver, "otel_llm.proxy.refusals", **refused) >= 1, message="refusal counted")
    assert _total(receiver, "otel_llm.mcp.tool.calls", **{"otel_llm.key.alias": "no-calc"}) == 0


def test_pre_mcp_call_guardrail_block_is_a_refusal_with_its_guardrail_span(
    proxy: ProxyProcess, receiver: OtlpReceiver
) -> None:
    """A pre_mcp_call guardrail blocking the arguments: its apply_guardrail span (decision block) under the
    tool call's span, and the call a refusal with reason guardrail."""
    trace_id = "7ab4" * 8
    (result,) = mcp_session(proxy.url, TOOLS, [("call", ("calc-add", {"a": 666, "b": 1}))], _traceparent(trace_id))
    assert result.is_error and "666" in result_text(result)
    spans = _in_trace(receiver, trace_id, 1, "execute_tool")
    (tool,) = [s for s in spans if s["name"] == "execute_tool calc-add"]
    assert tool["attributes"]["otel_llm.refusal.reason"] == "guardrail"
    (guard,) = [s for s in spans if s["name"] == "apply_guardrail tool-guard"]
    assert guard["parent_span_id"] == tool["span_id"] and guard["kind"] == INTERNAL
    assert guard["attributes"]["otel_llm.guardrail.decision"] == "block"
    assert guard["attributes"]["otel_llm.guardrail.mode"] == "pre_mcp_call"
    assert guard["attributes"]["otel_llm.key.hash"] == tool["attributes"]["otel_llm.key.hash"]


def test_blocking_guardrail_on_a_chat_request(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """A pre_call content filter blocking a prompt: the SERVER span keeps its 400, the guardrail's span
    (decision block) is its child, no attempt span, and the block is counted with its latency."""
    trace_id = "7ab5" * 8
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {TOOLS}", **_traceparent(trace_id)},
        json={"model": "gpt-main", "messages": [{"role": "user", "content": "say forbidden"}]},
        timeout=30,
    )
    assert response.status_code == 400 and "forbidden" in response.text
    spans = _in_trace(receiver, trace_id, 1, "apply_guardrail no-forbidden")
    (server,) = [s for s in spans if s["kind"] == SERVER]
    assert server["attributes"]["http.response.status_code"] == 400 and server["status"] != ERROR
    (guard,) = [s for s in spans if s["name"] == "apply_guardrail no-forbidden"]
    assert guard["parent_span_id"] == server["span_id"]
    attrs = guard["attributes"]
    assert attrs["gen_ai.operation.name"] == "apply_guardrail" and attrs["otel_llm.guardrail.decision"] == "block"
    assert attrs["otel_llm.guardrail.mode"] == "pre_call" and attrs["gen_ai.guardrail.component.name"]
    assert attrs["gen_ai.guardrail.result.value"] == "guardrail_intervened"
    assert attrs["otel_llm.key.alias"] == "tool-user"
    assert not [s for s in spans if s["kind"] == CLIENT]
    blocked = {"otel_llm.guardrail.name": "no-forbidden", "otel_llm.guardrail.decision": "block"}
    receiver.wait_for(lambda: _total(receiver, "otel_llm.guardrail.evaluations", **blocked) >= 1, message="block")
    assert _total(receiver, "otel_llm.guardrail.duration", **blocked, **{"otel_llm.team.id": "team-tools"}) >= 1


def test_pass_mask_and_flag_around_the_guarded_attempt(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """A request that passes the pre-call guardrails (one flags it) and whose answer a post-call guardrail
    masks: every evaluation is a span under the request's SERVER span, beside the guarded attempt."""
    trace_id = "7ab6" * 8
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {TOOLS}", **_traceparent(trace_id)},
        json={"model": "gpt-main", "messages": [{"role": "user", "content": "a suspicious question"}]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert "fake" not in response.json()["choices"][0]["message"]["content"]
    spans = _in_trace(receiver, trace_id, 3, "apply_guardrail")
    (server,) = [s for s in spans if s["kind"] == SERVER]
    decisions = {
        s["attributes"]["otel_llm.guardrail.name"]: (
            s["attributes"]["otel_llm.guardrail.mode"],
            s["attributes"]["otel_llm.guardrail.decision"],
        )
        for s in spans
        if s["name"].startswith("apply_guardrail")
    }
    assert decisions == {
        "no-forbidden": ("pre_call", "pass"),
        "code-check": ("pre_call", "flag"),
        "mask-fake": ("post_call", "mask"),
    }
    for span in spans:
        if span["name"].startswith("apply_guardrail"):
            assert span["parent_span_id"] == server["span_id"] and span["end"] >= span["start"]
    (attempt,) = [s for s in _in_trace(receiver, trace_id, 1, "chat ") if s["name"] == "chat gpt-4o-mini"]
    assert attempt["kind"] == CLIENT and attempt["parent_span_id"] == server["span_id"]
    masked = {"otel_llm.guardrail.name": "mask-fake", "otel_llm.guardrail.decision": "mask"}
    receiver.wait_for(lambda: _total(receiver, "otel_llm.guardrail.duration", **masked) >= 1, message="mask timed")


def test_a_guardrail_raising_is_recorded_and_the_answer_is_litellms(
    proxy: ProxyProcess, receiver: OtlpReceiver
) -> None:
    """A custom-code guardrail failing (a division by zero): LiteLLM's own answer (500, naming the failure)
    reaches the client, and the evaluation is recorded with decision error and status ERROR."""
    trace_id = "7ab7" * 8
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {TOOLS}", **_traceparent(trace_id)},
        json={"model": "gpt-main", "messages": [{"role": "user", "content": "please crash"}]},
        timeout=30,
    )
    assert response.status_code == 500 and "division by zero" in response.text, response.text
    spans = _in_trace(receiver, trace_id, 1, "apply_guardrail code-check")
    (guard,) = [s for s in spans if s["name"] == "apply_guardrail code-check"]
    assert guard["attributes"]["otel_llm.guardrail.decision"] == "error" and guard["status"] == ERROR
    assert guard["attributes"]["error.type"] == "guardrail_failed_to_respond"


def test_a2a_call_is_an_invoke_agent_span(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """An A2A message/send through /a2a/{agent} to a real agent: one live invoke_agent span under the
    request's SERVER span (the A2A client's spans nest under it), the agent named, and its metrics; a
    failing agent's call carries error.type."""
    trace_id = "7ab8" * 8
    headers = {"Authorization": f"Bearer {TOOLS}", **_traceparent(trace_id)}
    response = httpx.post(f"{proxy.url}/a2a/echo", headers=headers, json=a2a_message("hello agent"), timeout=30)
    assert response.status_code == 200 and "tnega olleh" in response.text, response.text
    failed = httpx.post(f"{proxy.url}/a2a/echo", headers=headers, json=a2a_message("explode", "m-2"), timeout=30)
    assert "agent exploded" in failed.text
    spans = _in_trace(receiver, trace_id, 2, "invoke_agent")
    agents = sorted((s for s in spans if s["name"] == "invoke_agent echo"), key=lambda s: s["start"])
    assert len(agents) == 2
    ok, bad = agents
    assert ok["kind"] == CLIENT and ok["scope"] == "otel_llm"
    servers = {s["span_id"]: s for s in spans if s["kind"] == SERVER}
    assert servers[ok["parent_span_id"]]["attributes"]["http.route"] == "/a2a/{agent_id}"
    attrs = ok["attributes"]
    assert attrs["gen_ai.operation.name"] == "invoke_agent" and attrs["a2a.method.name"] == "message/send"
    assert attrs["gen_ai.agent.name"] == "echo" and isinstance(attrs["gen_ai.agent.id"], str)
    assert attrs["server.address"] == "127.0.0.1" and isinstance(attrs["server.port"], int)
    assert attrs["otel_llm.key.alias"] == "tool-user" and "error.type" not in attrs
    assert isinstance(attrs["gen_ai.conversation.id"], str)
    assert [s for s in spans if s["scope"] != "otel_llm" and s["parent_span_id"] == ok["span_id"]]
    assert bad["attributes"]["error.type"] and bad["status"] == ERROR
    calls = {"gen_ai.agent.name": "echo", "otel_llm.key.alias": "tool-user"}
    receiver.wait_for(lambda: _total(receiver, "otel_llm.agent.calls", **calls) >= 2, message="agent calls counted")
    assert _total(receiver, "otel_llm.agent.call.duration", **{"gen_ai.agent.name": "echo"}) >= 2


def test_a_tool_loop_is_detected_and_varied_tool_traffic_is_not(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """The same tool with the same arguments 8 times from one key is a loop (observe mode: reported once,
    every call answered); 60 varied tool calls at full speed from another key are not."""
    steps = [("call", ("calc-add", {"a": 9, "b": 9}))] * 8
    results = mcp_session(proxy.url, LOOPER, steps)
    assert [result_text(r) for r in results] == ["18"] * 8
    varied = [
        ("call", ("calc-add", {"a": i, "b": 1})) if i % 2 else ("call", ("calc-echo", {"text": f"t{i}"}))
        for i in range(60)
    ]
    answered = mcp_session(proxy.url, BUSY, varied)
    assert not [r for r in answered if r.is_error]
    looped = {"otel_llm.key.alias": "loop-agent", "otel_llm.loop.reason": "repeat", "gen_ai.tool.name": "calc-add"}
    receiver.wait_for(lambda: _total(receiver, "otel_llm.loop.detections", **looped) == 1, message="tool loop")
    (attrs,) = [a for a, _, _ in receiver.latest_points("otel_llm.loop.detections") if a.get("gen_ai.tool.name")]
    assert attrs["otel_llm.loop.action"] == "observed" and attrs["otel_llm.team.id"] == "team-tools"
    receiver.wait_for(
        lambda: _total(receiver, "otel_llm.mcp.tool.calls", **{"otel_llm.key.alias": "busy-agent"}) >= 60,
        message="varied calls counted",
    )
    assert _total(receiver, "otel_llm.loop.detections", **{"otel_llm.key.alias": "busy-agent"}) == 0
    events = [
        s
        for s in receiver.spans()
        if s["attributes"].get("otel_llm.key.alias") == "loop-agent"
        and any(n == "otel_llm.loop.detected" for n, _ in s["events"])
    ]
    assert len(events) == 1 and events[0]["name"] == "execute_tool calc-add"


def test_prompts_and_resources_are_operations_too(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """prompts/list, prompts/get and resources/list are MCP operations with spans and durations; a prompt
    LiteLLM will not serve the key (403) is a refusal."""
    trace_id = "7ab9" * 8
    steps = [("list_prompts", None), ("get_prompt", ("calc-explain", {"topic": "x"})), ("list_resources", None)]
    listed, prompt, resources = mcp_session(proxy.url, TOOLS, steps, _traceparent(trace_id))
    assert {p.name for p in listed.prompts} >= {"calc-explain"} and {r.name for r in resources.resources}
    assert prompt.messages[0].content.text == "Explain x"
    (refusal,) = mcp_session(proxy.url, TOOLS, [("get_prompt", ("explain", {"topic": "x"}))], _traceparent(trace_id))
    assert "not allowed" in str(refusal)
    spans = _in_trace(receiver, trace_id, 2, "prompts/get")
    names = {s["name"]: s for s in spans if s["scope"] == "otel_llm"}
    assert {"prompts/list", "prompts/get calc-explain", "resources/list", "prompts/get explain"} <= set(names)
    assert names["prompts/get calc-explain"]["attributes"]["gen_ai.prompt.name"] == "calc-explain"
    assert names["prompts/get calc-explain"]["attributes"]["otel_llm.key.alias"] == "tool-user"
    refused = names["prompts/get explain"]["attributes"]
    assert refused["otel_llm.refusal.reason"] == "permission" and refused["http.response.status_code"] == 403
    served = {"mcp.method.name": "prompts/get", "gen_ai.prompt.name": "calc-explain"}
    receiver.wait_for(lambda: _total(receiver, "mcp.server.operation.duration", **served) >= 1, message="prompt timed")
    assert _total(receiver, "mcp.server.operation.duration", **{"gen_ai.prompt.name": "explain"}) == 0
