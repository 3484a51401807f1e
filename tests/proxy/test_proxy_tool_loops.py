"""Tool loops refused through the real proxy (OTEL_LLM_LOOP_MODE=block, windows in a real Redis): an agent
calling the same MCP tool with the same arguments again and again gets a clear MCP tool error until the
cool-down ends; its other tools, other keys, and varied tool traffic at full speed are never refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import yaml

from tests.conftest import running_redis
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import ProxyProcess
from tests.proxy.hops_harness import AUTH_MODULE, BUSY, LOOPER, ServerProcess, mcp_servers, mcp_session, result_text

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_redis(tmp_path_factory.mktemp("redis")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver, redis_url: str) -> Iterator[ProxyProcess]:
    workdir = tmp_path_factory.mktemp("tool-loops")
    calc = ServerProcess("calc_mcp.py", "http").start()
    servers = mcp_servers(calc.port)
    del servers["calcio"]
    config = {
        "model_list": [],
        "litellm_settings": {"callbacks": ["otel_llm.proxy.callback"]},
        "general_settings": {"custom_auth": "auth.user_api_key_auth"},
        "mcp_servers": servers,
    }
    (workdir / "loops.yaml").write_text(yaml.safe_dump(config))
    process = ProxyProcess(
        workdir,
        [],
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_LLM_LOOP_MODE": "block",
            "OTEL_LLM_LOOP_REPEATS": "3",
            "OTEL_LLM_LOOP_REDIS_URL": redis_url,
        },
        config_file=workdir / "loops.yaml",
    )
    (workdir / "auth.py").write_text(AUTH_MODULE)
    try:
        yield process.start(timeout=180)
    finally:
        process.stop()
        calc.stop()
    assert "otel-llm: internal error" not in process.log(), process.log()[-5000:]


def _total(receiver: OtlpReceiver, metric: str, **match: object) -> int:
    return sum(
        int(point.as_int)
        for attrs, point, _ in receiver.latest_points(metric)
        if all(attrs.get(k) == v for k, v in match.items())
    )


def test_a_looping_tool_call_is_refused_with_a_clear_mcp_error(
    proxy: ProxyProcess, receiver: OtlpReceiver, redis_url: str
) -> None:
    """The 3rd identical calc-add call is detected (and answered); the 4th is refused as a tool error that
    says why and for how long; the key's other tool and another key's identical call still run."""
    results = mcp_session(proxy.url, LOOPER, [("call", ("calc-add", {"a": 5, "b": 5}))] * 4)
    assert [r.is_error for r in results] == [False, False, False, True]
    refusal = result_text(results[3])
    assert "otel-llm loop guard" in refusal and "calc-add" in refusal and "refused for" in refusal
    other_tool, other_key = (
        mcp_session(proxy.url, LOOPER, [("call", ("calc-echo", {"text": "still here"}))])[0],
        mcp_session(proxy.url, BUSY, [("call", ("calc-add", {"a": 5, "b": 5}))])[0],
    )
    assert result_text(other_tool) == "still here" and result_text(other_key) == "10"
    tool = {"otel_llm.key.alias": "loop-agent", "gen_ai.tool.name": "calc-add"}
    receiver.wait_for(
        lambda: (
            _total(receiver, "otel_llm.loop.refusals", **tool) == 1
            and _total(receiver, "otel_llm.loop.detections", **tool, **{"otel_llm.loop.action": "blocked"}) == 1
        ),
        message="loop detected and refused",
    )
    refused = {"otel_llm.key.alias": "loop-agent", "otel_llm.refusal.reason": "loop_guard"}
    receiver.wait_for(lambda: _total(receiver, "otel_llm.proxy.refusals", **refused) == 1, message="refusal")
    assert _total(receiver, "otel_llm.mcp.tool.calls", **tool) == 3  # the refused call never ran
    # The windows and the block live in Redis, shared by every worker and replica.
    client = redis.Redis.from_url(redis_url)
    assert client.keys("otel_llm:loop:b:*") and client.keys("otel_llm:loop:w:*")


def test_varied_tool_traffic_at_full_speed_is_never_refused(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """80 tool calls in one session as fast as the gateway answers, with varied tools and arguments."""
    steps = [
        ("call", ("calc-add", {"a": i, "b": 2})) if i % 2 else ("call", ("calc-echo", {"text": f"q{i}"}))
        for i in range(80)
    ]
    results = mcp_session(proxy.url, BUSY, steps)
    assert not [r for r in results if r.is_error]
    receiver.wait_for(
        lambda: _total(receiver, "otel_llm.mcp.tool.calls", **{"otel_llm.key.alias": "busy-agent"}) >= 80,
        message="varied calls counted",
    )
    assert _total(receiver, "otel_llm.loop.detections", **{"otel_llm.key.alias": "busy-agent"}) == 0
